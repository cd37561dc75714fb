using System.Text.Json;
using System.Threading.Channels;
using Dapr.Client;
using Microsoft.Extensions.Options;
using Npgsql;
using Personalization.Aggregation.Extensions;
using Personalization.Aggregation.Model;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Aggregation.Data;

/// <summary>What the last backfill did: why it ran, how far it got, and how many profiles changed membership.</summary>
public sealed record BackfillStatus(string Reason, string State, long Scanned, long Changed, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, string? Error);

/// <summary>
/// Evaluates profiles again without an event of theirs (the same <see cref="ProfileEvaluation"/> a new event runs):
/// <list type="bullet">
/// <item><b>Backfill</b>: after a segment is created, changed or deleted, every profile listed in the
/// <see cref="ProfileDirectory"/>, in id order; a profile is written only when its memberships or flags changed.
/// Requests arriving during a run queue one more run (they coalesce). The status of the last backfill is kept in the
/// record store (<see cref="StatusKey"/>); one cut short (its replica stopped) is found there at the next start and run
/// again.</item>
/// <item><b>Due evaluation</b>: every <c>Aggregation:EvaluationInterval</c>, the profiles whose evaluation can have
/// changed by time alone (<see cref="InsightsEvaluator.NextChange"/>, kept in the directory): a bucket left a window,
/// a burst left the last hour, a quiet week lowered the recent rate below the churn baseline. They are written with
/// their new windows, flags and memberships, so a user who stopped coming is flagged and leaves window segments
/// without sending anything — and quiet profiles are never visited at all.</item>
/// </list>
/// A page of <see cref="PageSize"/> profiles at a time: one bulk get, one etag-guarded transaction (a profile that
/// changed meanwhile is re-read and evaluated again, so this and live events never undo each other), one
/// <see cref="SegmentsChangedBatch"/> on <c>segments.changed</c>. Safe with replicas: a run holds a PostgreSQL
/// advisory lock; a due evaluation is skipped while another replica runs, a backfill waits for the lock.
/// </summary>
public sealed partial class ProfileReevaluator(
    DaprClient dapr, SegmentStore segments, ProfileDirectory directory, NpgsqlDataSource dataSource, IOptions<AggregationOptions> options,
    TimeProvider clock, AggregationTelemetry telemetry, ILogger<ProfileReevaluator> logger) : BackgroundService
{
    public const int PageSize = 200;
    public const string StatusKey = "segments-backfill";
    public const string Resumed = "resumed after a restart";
    /// <summary>What a profile update announced by an evaluation names as its cause (there is no event).</summary>
    public const string ReevaluationCause = "evaluation";

    /// <summary>
    /// How long a backfill waits after the change that asked for it: by then every replica's catalog
    /// (<see cref="SegmentStore.RefreshInterval"/>) holds the change, so a profile folded with the old catalog was written
    /// and listed before the backfill reads the directory, and is evaluated by it.
    /// </summary>
    public static readonly TimeSpan BackfillDelay = SegmentStore.RefreshInterval * 2 + TimeSpan.FromSeconds(1);

    /// <summary>Pages of due profiles one tick takes at most; the rest wait for the next.</summary>
    private const int MaxDuePagesPerTick = 50;

    /// <summary>The advisory lock key of a run ("evaluate" in ASCII).</summary>
    private const long RunLockId = 0x6576616C75617465;

    private readonly Channel<string> _requests = Channel.CreateBounded<string>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Asks for a backfill; when one is waiting already, that one covers this change too.</summary>
    public void Request(string reason) => _requests.Writer.TryWrite(reason);

    public async Task<BackfillStatus?> StatusAsync(CancellationToken ct) =>
        await dapr.GetStateAsync<BackfillStatus?>(SegmentStore.Store, StatusKey, cancellationToken: ct);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var due = EvaluateDueAsync(stoppingToken);
        await foreach (var reason in _requests.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                await BackfillAsync(reason, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogFailed(logger, reason, e);
            }
        }
        await due;
    }

    private async Task BackfillAsync(string reason, CancellationToken ct)
    {
        await Task.Delay(BackfillDelay, clock, ct);
        await using var runLock = await LockAsync(wait: true, ct);
        var status = new BackfillStatus(reason, "running", 0, 0, clock.GetUtcNow(), null, null);
        try
        {
            await SaveAsync(status, ct);
            var compiled = CompiledSegment.Compile((await segments.ReadAsync(ct)).Document);
            var after = "";
            while (await directory.PageAsync(after, PageSize, ct) is { Count: > 0 } ids)
            {
                after = ids[^1];
                var changed = await EvaluateAsync(ids, compiled, alwaysWrite: false, ct);
                status = status with { Scanned = status.Scanned + ids.Count, Changed = status.Changed + changed };
                await SaveAsync(status, ct);
            }
            status = status with { State = "completed", FinishedAt = clock.GetUtcNow() };
            LogCompleted(logger, reason, status.Scanned, status.Changed);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            status = status with { State = "failed", FinishedAt = clock.GetUtcNow(), Error = e.Message };
            LogFailed(logger, reason, e);
        }
        await SaveAsync(status, ct);
    }

    /// <summary>Every interval, the profiles due; at start, a backfill again when the last was cut short.</summary>
    private async Task EvaluateDueAsync(CancellationToken ct)
    {
        try
        {
            if (await StatusAsync(ct) is { State: "running" or "failed" }) Request(Resumed);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailed(logger, Resumed, e);
        }
        using var timer = new PeriodicTimer(options.Value.EvaluationInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    await using var runLock = await LockAsync(wait: false, ct);
                    if (runLock is null) continue; // another replica is at it
                    var compiled = await segments.CurrentAsync(ct);
                    for (var page = 0; page < MaxDuePagesPerTick; page++)
                    {
                        var ids = await directory.DueAsync(clock.GetUtcNow(), PageSize, ct);
                        if (ids.Count == 0) break;
                        await EvaluateAsync(ids, compiled, alwaysWrite: true, ct);
                        telemetry.Reevaluated.Add(ids.Count);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogDueFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Evaluates a page of profiles, publishes their segment changes and records when each is next due; answers how many changed membership.</summary>
    private async Task<int> EvaluateAsync(IReadOnlyList<string> ids, IReadOnlyList<CompiledSegment> compiled, bool alwaysWrite, CancellationToken ct)
    {
        var updates = ids.Select(id => new Reevaluation(id, compiled, options.Value.Flags, alwaysWrite, clock)).ToList();
        await StateBatch.UpdateAsync(dapr, StateKeys.Store, updates, ct);
        var changes = updates.Where(u => u.Failure is null && u.Changes is not null).Select(u => u.Changes!).ToList();
        if (changes.Count > 0)
        {
            await dapr.PublishEventAsync(Topics.PubSub, Topics.SegmentsChanged, new SegmentsChangedBatch(changes), ct);
            telemetry.CountSegmentChanges(changes);
        }
        // Profiles changed by time alone (windows moved, a flag raised or lowered) are announced like any other change.
        var now = clock.GetUtcNow();
        var written = updates.Where(u => u.Failure is null && u.Written is not null)
            .Select(u => new ProfileUpdated(u.ProfileId, u.Written!.Value, now, ReevaluationCause, now)).ToList();
        if (written.Count > 0) await dapr.PublishEventAsync(Topics.PubSub, Topics.ProfilesUpdated, new ProfileUpdateBatch(written), ct);
        await directory.SetDueAsync(updates.Where(u => u.Failure is null).Select(u => new DirectoryEntry(u.ProfileId, u.DueAt, u.Segments)), ct);
        if (updates.FirstOrDefault(u => u.Failure is not null) is { } failed) throw new InvalidOperationException(failed.Failure);
        return changes.Count;
    }

    /// <summary>The run lock, held until disposed; null when <paramref name="wait"/> is false and another replica holds it.</summary>
    private async Task<RunLock?> LockAsync(bool wait, CancellationToken ct)
    {
        var connection = await dataSource.OpenConnectionAsync(ct);
        try
        {
            await using var command = new NpgsqlCommand(wait ? "SELECT pg_advisory_lock($1)" : "SELECT pg_try_advisory_lock($1)", connection);
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = RunLockId });
            var result = await command.ExecuteScalarAsync(ct);
            if (wait || result is true) return new RunLock(connection);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        await connection.DisposeAsync();
        return null;
    }

    private sealed class RunLock(NpgsqlConnection connection) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await using var command = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", connection);
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = RunLockId });
                await command.ExecuteNonQueryAsync();
            }
            finally
            {
                await connection.DisposeAsync();
            }
        }
    }

    private Task SaveAsync(BackfillStatus status, CancellationToken ct) =>
        dapr.SaveStateAsync(SegmentStore.Store, StatusKey, status, cancellationToken: ct);

    /// <summary>
    /// One profile evaluated again; written (version +1) when <paramref name="alwaysWrite"/> (it was due: its windows
    /// moved) or its memberships or flags changed.
    /// </summary>
    private sealed class Reevaluation(string profileId, IReadOnlyList<CompiledSegment> segments, FlagOptions flags, bool alwaysWrite, TimeProvider clock)
        : KeyUpdate(StateKeys.Profile(profileId))
    {
        public string ProfileId => profileId;
        public SegmentsChanged? Changes { get; private set; }
        public DateTimeOffset? DueAt { get; private set; }
        public IReadOnlyCollection<string> Segments { get; private set; } = [];
        /// <summary>The version written, when the evaluation wrote the profile.</summary>
        public long? Written { get; private set; }

        public override IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, Stored> others)
        {
            Changes = null;
            DueAt = null;
            Segments = [];
            Written = null;
            if (stored.Json is null) return [];
            var profile = JsonSerializer.Deserialize(stored.Json, ContractsJsonContext.Default.UserProfile);
            if (profile is not { Version: > 0, MergedInto: null }) return [];
            var now = clock.GetUtcNow();
            var (evaluated, changes) = ProfileEvaluation.Apply(profile, segments, flags, now);
            DueAt = InsightsEvaluator.NextChange(evaluated, now);
            Segments = [.. evaluated.Segments.Keys];
            if (!alwaysWrite && changes is null && SameFlags(profile.Insights, evaluated.Insights)) return [];
            Changes = changes;
            var next = evaluated with { Version = profile.Version + 1, UpdatedAt = now };
            Written = next.Version;
            return [Write(stored, JsonSerializer.SerializeToUtf8Bytes(next, ContractsJsonContext.Default.UserProfile))];
        }

        private static bool SameFlags(ProfileInsights? before, ProfileInsights? after) =>
            (before?.Flags.Keys ?? []).Order(StringComparer.Ordinal).SequenceEqual((after?.Flags.Keys ?? []).Order(StringComparer.Ordinal), StringComparer.Ordinal);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Segment backfill ({Reason}) completed: {Scanned} profiles evaluated, {Changed} changed membership")]
    private static partial void LogCompleted(ILogger logger, string reason, long scanned, long changed);

    [LoggerMessage(Level = LogLevel.Error, Message = "Segment backfill ({Reason}) failed")]
    private static partial void LogFailed(ILogger logger, string reason, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Evaluation of due profiles failed; the next tick tries again")]
    private static partial void LogDueFailed(ILogger logger, Exception exception);
}
