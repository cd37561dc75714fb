using Dapr;
using Dapr.Client;
using Personalization.Consent.Extensions;
using Personalization.Consent.Model;
using Personalization.Contracts;

namespace Personalization.Consent.Data;

/// <summary>
/// Records a consent statement, whoever makes it (the API, an opt-out signal on an ingestion request): appended to the
/// PostgreSQL ledger first (the record), then merged into the current consent in the state store (etag-guarded), then
/// published as <see cref="ConsentChanged"/>. Purposes the statement does not name keep their value.
/// </summary>
public sealed class ConsentRecorder(DaprClient dapr, ConsentLedger ledger, ConsentTelemetry telemetry, ILogger<ConsentRecorder> logger)
{
    public async Task<ConsentState> RecordAsync(string userId, IReadOnlyList<ConsentChange> changes, LedgerContext context, CancellationToken ct)
    {
        using var activity = ConsentTelemetry.ActivitySource.StartActivity("consent.record");
        var now = DateTimeOffset.UtcNow;
        await ledger.AppendAsync(userId, changes, context, now, ct);
        var state = await SaveAsync(userId, current => Apply(current, userId, changes, now), ct);
        await dapr.PublishEventAsync(Topics.PubSub, Topics.ConsentChanged, new ConsentChanged(userId, state.Purposes, now), ct);
        telemetry.Changes.Add(1, new KeyValuePair<string, object?>("source", changes[0].Source));
        ConsentTelemetry.ConsentRecorded(logger, context.RequestId, changes[0].Source, changes.Count);
        return state;
    }

    /// <summary>The user's current consent: the state store's copy, rebuilt from the ledger when it is missing.</summary>
    public async Task<ConsentState?> CurrentAsync(string userId, CancellationToken ct)
    {
        var state = await dapr.GetStateAsync<ConsentState?>(StateKeys.Store, StateKeys.Consent(userId), cancellationToken: ct);
        if (state is null && await ledger.CurrentAsync(userId, ct) is { } recorded)
        {
            // The state store is derived; the ledger is the record. Put the copy back for the filter.
            await SaveAsync(userId, _ => recorded, ct);
            ConsentTelemetry.Rehydrated(logger);
            state = recorded;
        }
        return state;
    }

    /// <summary>Consent after the changes: each names a purpose's new value, the other purposes stay as they were.</summary>
    public static ConsentState Apply(ConsentState? current, string userId, IReadOnlyList<ConsentChange> changes, DateTimeOffset now)
    {
        var merged = new SortedDictionary<string, bool>(StringComparer.Ordinal);
        if (current is not null)
        {
            foreach (var (purpose, granted) in current.Purposes) merged[purpose] = granted;
        }
        foreach (var change in changes) merged[change.Purpose] = change.Granted;
        return new ConsentState(userId, merged, now);
    }

    /// <summary>Etag-guarded read-modify-write of the current consent; a new key is written first-write so two creators cannot both win.</summary>
    private async Task<ConsentState> SaveAsync(string userId, Func<ConsentState?, ConsentState> change, CancellationToken ct)
    {
        var key = StateKeys.Consent(userId);
        for (var attempt = 1; ; attempt++)
        {
            var (current, etag) = await dapr.GetStateAndETagAsync<ConsentState?>(StateKeys.Store, key, cancellationToken: ct);
            var next = change(current);
            if (string.IsNullOrEmpty(etag))
            {
                try
                {
                    await dapr.SaveStateAsync(StateKeys.Store, key, next, new StateOptions { Concurrency = ConcurrencyMode.FirstWrite }, cancellationToken: ct);
                    return next;
                }
                catch (DaprException) when (attempt < 5)
                {
                    continue; // created meanwhile: read it and merge again
                }
            }
            if (await dapr.TrySaveStateAsync(StateKeys.Store, key, next, etag, cancellationToken: ct)) return next;
            if (attempt >= 10) throw new InvalidOperationException("a user's consent kept changing under 10 attempts to save it");
        }
    }
}
