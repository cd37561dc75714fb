using System.Text.Json;
using System.Threading.Channels;
using Dapr.Client;
using Microsoft.Extensions.Options;
using Personalization.Aggregation.Extensions;
using Personalization.Aggregation.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Aggregation.Data;

/// <summary>What the last backfill did: why it ran, how far it got, and how many profiles changed membership.</summary>
public sealed record BackfillStatus(string Reason, string State, long Scanned, long Changed, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, string? Error);

/// <summary>
/// After a segment is created, changed or deleted, evaluates every existing profile (listed in the
/// <see cref="ProfileDirectory"/>) against the whole catalog, a page of <see cref="PageSize"/> profiles at a time:
/// one bulk get, one etag-guarded transaction for the profiles whose memberships changed (the same
/// <see cref="ProfileEvaluation"/> a new event runs), one <see cref="SegmentsChangedBatch"/> on
/// <c>segments.changed</c>. A profile that changed meanwhile is re-read and evaluated again, so a backfill and live
/// events never undo each other. Changes arriving during a run queue one more run (they coalesce). The status of
/// the last run is kept in the record store (<see cref="StatusKey"/>). A run cut short by a restart of its replica is
/// not resumed: saving the segment again starts a new one.
/// </summary>
public sealed partial class SegmentBackfill(
    DaprClient dapr, SegmentStore segments, ProfileDirectory directory, IOptions<AggregationOptions> options, TimeProvider clock,
    AggregationTelemetry telemetry, ILogger<SegmentBackfill> logger) : BackgroundService
{
    public const int PageSize = 200;
    public const string StatusKey = "segments-backfill";

    private readonly Channel<string> _requests = Channel.CreateBounded<string>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Asks for a run; when one is waiting already, that one covers this change too.</summary>
    public void Request(string reason) => _requests.Writer.TryWrite(reason);

    public async Task<BackfillStatus?> StatusAsync(CancellationToken ct) =>
        await dapr.GetStateAsync<BackfillStatus?>(SegmentStore.Store, StatusKey, cancellationToken: ct);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var reason in _requests.Reader.ReadAllAsync(stoppingToken))
        {
            var status = new BackfillStatus(reason, "running", 0, 0, clock.GetUtcNow(), null, null);
            try
            {
                await SaveAsync(status, stoppingToken);
                status = await RunAsync(status, stoppingToken);
                status = status with { State = "completed", FinishedAt = clock.GetUtcNow() };
                LogCompleted(logger, reason, status.Scanned, status.Changed);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                status = status with { State = "failed", FinishedAt = clock.GetUtcNow(), Error = e.Message };
                LogFailed(logger, reason, e);
            }
            try
            {
                await SaveAsync(status, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(logger, reason, e);
            }
        }
    }

    private async Task<BackfillStatus> RunAsync(BackfillStatus status, CancellationToken ct)
    {
        var settings = options.Value;
        var compiled = CompiledSegment.Compile((await segments.ReadAsync(ct)).Catalog);
        var after = "";
        while (true)
        {
            var ids = await directory.PageAsync(after, PageSize, ct);
            if (ids.Count == 0) return status;
            after = ids[^1];
            var updates = ids.Select(id => new MembershipUpdate(id, compiled, settings.Flags, clock)).ToList();
            await StateBatch.UpdateAsync(dapr, StateKeys.Store, updates, ct);
            var failed = updates.FirstOrDefault(u => u.Failure is not null);
            var changes = updates.Where(u => u.Failure is null && u.Changes is not null).Select(u => u.Changes!).ToList();
            if (changes.Count > 0)
            {
                await dapr.PublishEventAsync(Topics.PubSub, Topics.SegmentsChanged, new SegmentsChangedBatch(changes), ct);
                telemetry.CountSegmentChanges(changes);
            }
            if (failed is not null) throw new InvalidOperationException(failed.Failure);
            status = status with { Scanned = status.Scanned + ids.Count, Changed = status.Changed + changes.Count };
            await SaveAsync(status, ct);
        }
    }

    private Task SaveAsync(BackfillStatus status, CancellationToken ct) =>
        dapr.SaveStateAsync(SegmentStore.Store, StatusKey, status, cancellationToken: ct);

    /// <summary>One profile evaluated again; written (version +1) only when its memberships changed.</summary>
    private sealed class MembershipUpdate(string profileId, IReadOnlyList<CompiledSegment> segments, FlagOptions flags, TimeProvider clock)
        : KeyUpdate(StateKeys.Profile(profileId))
    {
        public SegmentsChanged? Changes { get; private set; }

        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, string> others)
        {
            Changes = null;
            if (stored.Json is null) return [];
            var profile = JsonSerializer.Deserialize(stored.Json, ContractsJsonContext.Default.UserProfile);
            if (profile is not { Version: > 0 }) return [];
            var now = clock.GetUtcNow();
            var (evaluated, changes) = ProfileEvaluation.Apply(profile, segments, flags, now);
            if (changes is null) return [];
            Changes = changes;
            var next = evaluated with { Version = profile.Version + 1, UpdatedAt = now };
            return [Write(stored, JsonSerializer.SerializeToUtf8Bytes(next, ContractsJsonContext.Default.UserProfile))];
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Segment backfill ({Reason}) completed: {Scanned} profiles evaluated, {Changed} changed membership")]
    private static partial void LogCompleted(ILogger logger, string reason, long scanned, long changed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Segment backfill ({Reason}) failed")]
    private static partial void LogFailed(ILogger logger, string reason, Exception exception);
}
