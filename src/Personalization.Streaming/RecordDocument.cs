using Dapr;
using Dapr.Client;

namespace Personalization.Streaming;

/// <summary>
/// A configuration document kept in the record store (PostgreSQL) under one key — the segment catalog, the placements —
/// changed etag-guarded and read on the hot path through <see cref="CurrentAsync"/>: its compiled form
/// (<typeparamref name="TView"/>) as read at most <see cref="RefreshInterval"/> ago, so a change reaches every replica
/// within that time without a store read per use. While the record store cannot be read (PostgreSQL restarting), the
/// form last read is used: the stream goes on, and changes, which need the store anyway, wait for it.
/// </summary>
public class RecordDocument<TDocument, TView>(DaprClient dapr, TimeProvider clock, string key, TDocument empty, Func<TDocument, TView> compile)
    where TDocument : class
{
    public const string Store = "recordstore";
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim _refresh = new(1, 1);
    private volatile Snapshot? _snapshot;

    private sealed record Snapshot(TView View, DateTimeOffset ReadAt);

    public async Task<TView> CurrentAsync(CancellationToken ct)
    {
        if (_snapshot is { } fresh && clock.GetUtcNow() - fresh.ReadAt < RefreshInterval) return fresh.View;
        await _refresh.WaitAsync(ct);
        try
        {
            if (_snapshot is { } again && clock.GetUtcNow() - again.ReadAt < RefreshInterval) return again.View;
            try
            {
                var (document, _) = await ReadAsync(ct);
                _snapshot = new Snapshot(compile(document), clock.GetUtcNow());
            }
            catch (DaprException) when (_snapshot is { } last)
            {
                _snapshot = last with { ReadAt = clock.GetUtcNow() };
            }
            return _snapshot!.View;
        }
        finally
        {
            _refresh.Release();
        }
    }

    public async Task<(TDocument Document, string? ETag)> ReadAsync(CancellationToken ct)
    {
        var (document, etag) = await dapr.GetStateAndETagAsync<TDocument?>(Store, key, cancellationToken: ct);
        return (document ?? empty, string.IsNullOrEmpty(etag) ? null : etag);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the document as stored, etag-guarded (first-write when there is none yet),
    /// again when another writer came first. <paramref name="change"/> answers the new document, or null to write nothing.
    /// </summary>
    public async Task<T> ChangeAsync<T>(Func<TDocument, (TDocument? Next, T Result)> change, CancellationToken ct)
    {
        for (var attempt = 1; attempt <= 10; attempt++)
        {
            var (document, etag) = await ReadAsync(ct);
            var (next, result) = change(document);
            if (next is null) return result;
            if (etag is null)
            {
                try
                {
                    await dapr.SaveStateAsync(Store, key, next, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: ct);
                }
                catch (DaprException)
                {
                    continue; // created meanwhile: read it and apply the change again
                }
            }
            else if (!await dapr.TrySaveStateAsync(Store, key, next, etag, cancellationToken: ct))
            {
                continue;
            }
            _snapshot = null;
            return result;
        }
        throw new InvalidOperationException($"'{key}' kept changing under 10 attempts to save a change");
    }
}
