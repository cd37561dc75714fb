using Dapr;
using Dapr.Client;
using Personalization.Aggregation.Model;

namespace Personalization.Aggregation.Data;

/// <summary>
/// The segment definitions, one <see cref="SegmentCatalog"/> in the record store (PostgreSQL) under
/// <see cref="SegmentCatalog.Key"/>, changed etag-guarded. Every delivery of events is evaluated against
/// <see cref="CurrentAsync"/>: the catalog as read at most <see cref="RefreshInterval"/> ago, so a change reaches every
/// replica within that time without a read per delivery; the backfill a change starts covers profiles folded meanwhile.
/// While the record store cannot be read (PostgreSQL restarting), the catalog last read is used: events go on being
/// folded and evaluated, and segment changes, which need the store anyway, wait for it.
/// </summary>
public sealed class SegmentStore(DaprClient dapr, TimeProvider clock)
{
    public const string Store = "recordstore";
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim _refresh = new(1, 1);
    private volatile Snapshot? _snapshot;

    private sealed record Snapshot(IReadOnlyList<CompiledSegment> Segments, DateTimeOffset ReadAt);

    public async Task<IReadOnlyList<CompiledSegment>> CurrentAsync(CancellationToken ct)
    {
        if (_snapshot is { } fresh && clock.GetUtcNow() - fresh.ReadAt < RefreshInterval) return fresh.Segments;
        await _refresh.WaitAsync(ct);
        try
        {
            if (_snapshot is { } again && clock.GetUtcNow() - again.ReadAt < RefreshInterval) return again.Segments;
            SegmentCatalog catalog;
            try
            {
                (catalog, _) = await ReadAsync(ct);
            }
            catch (DaprException) when (_snapshot is { } last)
            {
                _snapshot = last with { ReadAt = clock.GetUtcNow() };
                return last.Segments;
            }
            var snapshot = new Snapshot(CompiledSegment.Compile(catalog), clock.GetUtcNow());
            _snapshot = snapshot;
            return snapshot.Segments;
        }
        finally
        {
            _refresh.Release();
        }
    }

    public async Task<(SegmentCatalog Catalog, string? ETag)> ReadAsync(CancellationToken ct)
    {
        var (catalog, etag) = await dapr.GetStateAndETagAsync<SegmentCatalog?>(Store, SegmentCatalog.Key, cancellationToken: ct);
        return (catalog ?? SegmentCatalog.Empty, string.IsNullOrEmpty(etag) ? null : etag);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the catalog as stored, etag-guarded (first-write when there is none yet),
    /// again when another writer came first. <paramref name="change"/> answers the new catalog, or null to write nothing.
    /// </summary>
    public async Task<T> ChangeAsync<T>(Func<SegmentCatalog, (SegmentCatalog? Next, T Result)> change, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (catalog, etag) = await ReadAsync(ct);
            var (next, result) = change(catalog);
            if (next is null) return result;
            if (etag is null)
            {
                try
                {
                    await dapr.SaveStateAsync(Store, SegmentCatalog.Key, next, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: ct);
                    _snapshot = null;
                    return result;
                }
                catch (Dapr.DaprException) when (attempt < 10)
                {
                    continue; // created meanwhile: read it and apply the change again
                }
            }
            else if (await dapr.TrySaveStateAsync(Store, SegmentCatalog.Key, next, etag, cancellationToken: ct))
            {
                _snapshot = null;
                return result;
            }
            if (attempt >= 10) throw new InvalidOperationException("the segment catalog kept changing under 10 attempts to save a change");
        }
    }
}
