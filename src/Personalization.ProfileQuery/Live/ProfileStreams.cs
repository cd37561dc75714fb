using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Personalization.Contracts;
using Personalization.ProfileQuery.Apis;
using Personalization.ProfileQuery.Decisions;
using Personalization.ProfileQuery.Extensions;

namespace Personalization.ProfileQuery.Live;

/// <summary>
/// One message on a live stream: <c>profile</c> (the profile, its version as the id), <c>flags</c> (the raised flags,
/// when they change), <c>segments</c> (entered and exited, as they happen), <c>decision</c> (a placement's variant,
/// when it changes), <c>withheld</c> (consent to personalization revoked: the last message), <c>heartbeat</c>.
/// <see cref="Data"/> is JSON text.
/// </summary>
public sealed record StreamMessage(string Type, long? Id, string Data);

/// <summary>
/// An open stream: what it watches, what it has sent (so it sends only changes), and its bounded outbox. A reader too
/// slow to keep up with its outbox is dropped (<see cref="Dropped"/>), never allowed to grow server memory.
/// </summary>
public sealed class StreamSubscriber(string requestedId, ProfileFields fields, IReadOnlyList<string> placements, int buffer, long? lastEventId)
{
    private readonly Channel<StreamMessage> _outbox = Channel.CreateBounded<StreamMessage>(
        new BoundedChannelOptions(buffer) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly CancellationTokenSource _dropped = new();
    private string? _sentProfileId;
    private long _sentVersion = lastEventId ?? 0;
    private string? _sentFlags;
    private readonly Dictionary<string, string?> _sentDecisions = new(StringComparer.Ordinal);

    public string RequestedId { get; } = requestedId;

    /// <summary>The profile id it is registered under: the requested id until a read finds the profile it belongs to.</summary>
    public string WatchedId { get; set; } = requestedId;

    public ProfileFields Fields { get; } = fields;
    public IReadOnlyList<string> Placements { get; } = placements;
    public ChannelReader<StreamMessage> Outbox => _outbox.Reader;

    /// <summary>Cancelled when the reader fell a whole outbox behind.</summary>
    public CancellationToken Dropped => _dropped.Token;

    /// <summary>
    /// Queues what changed since the last message for what a read found: the profile when its version is newer (or it
    /// is another profile: a merge), flags and decisions when they differ. False when the stream was dropped.
    /// </summary>
    public bool Offer(ProfileRead read, IReadOnlyDictionary<string, Placement> catalog)
    {
        lock (_outbox)
        {
            if (_dropped.IsCancellationRequested) return false;
            if (read.Withheld)
            {
                return Push(new StreamMessage("withheld", null, "{\"reason\":\"the user has withdrawn consent to personalization\"}")) && Close();
            }
            if (read.Answer is { } profile)
            {
                // Resumed (Last-Event-ID) at this version or later: the client has it. Another profile (a merge): send it.
                var resumed = _sentProfileId is null && profile.Version <= _sentVersion;
                var other = profile.ProfileId != _sentProfileId;
                _sentProfileId = profile.ProfileId;
                if (!resumed && (other || profile.Version > _sentVersion))
                {
                    _sentVersion = profile.Version;
                    if (!Push(new StreamMessage("profile", profile.Version, Fields.Select(profile).ToJsonString()))) return false;
                }
                var flags = profile.Insights?.Flags ?? new Dictionary<string, ProfileFlag>();
                var flagKey = string.Join(',', flags.Keys.Order(StringComparer.Ordinal));
                if (flagKey != _sentFlags)
                {
                    _sentFlags = flagKey;
                    var data = JsonSerializer.Serialize(new FlagsChange(flags), ProfileQueryJsonContext.Default.FlagsChange);
                    if (!Push(new StreamMessage("flags", profile.Version, data))) return false;
                }
            }
            foreach (var decision in Decider.Decide(Placements.Where(catalog.ContainsKey).Select(p => catalog[p]), read))
            {
                if (_sentDecisions.TryGetValue(decision.Placement, out var sent) && sent == decision.Variant) continue;
                _sentDecisions[decision.Placement] = decision.Variant;
                if (!Push(new StreamMessage("decision", null, JsonSerializer.Serialize(decision, ProfileQueryJsonContext.Default.Decision)))) return false;
            }
            return true;
        }
    }

    /// <summary>Queues a segment change as it happened. False when the stream was dropped.</summary>
    public bool Offer(SegmentsChanged change)
    {
        lock (_outbox)
        {
            return !_dropped.IsCancellationRequested
                && Push(new StreamMessage("segments", null, JsonSerializer.Serialize(change, ProfileQueryJsonContext.Default.SegmentsChanged)));
        }
    }

    private bool Push(StreamMessage message)
    {
        if (_outbox.Writer.TryWrite(message)) return true;
        _dropped.Cancel();
        return false;
    }

    private bool Close()
    {
        _outbox.Writer.TryComplete();
        return true;
    }
}

/// <summary>The <c>flags</c> message: every flag raised now, with its explanation.</summary>
public sealed record FlagsChange(IReadOnlyDictionary<string, ProfileFlag> Flags);

/// <summary>
/// The open streams by the profile they watch, and the fan-out of changes to them: <c>profiles.updated</c> and
/// <c>segments.changed</c> deliveries (<see cref="ProfileChangeHandler"/>) name profiles; those with streams are read
/// in one bulk get and each stream is offered what changed. With no stream open a delivery costs nothing more.
/// </summary>
public sealed class ProfileStreams(ProfileReader reader, PlacementStore placements, ProfileQueryTelemetry telemetry, IConfiguration configuration)
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<StreamSubscriber, byte>> _byProfile = new(StringComparer.Ordinal);
    private int _open;

    public int MaxStreams { get; } = configuration.GetValue("Streams:MaxStreams", 10_000);
    public int Buffer { get; } = configuration.GetValue("Streams:Buffer", 64);
    public TimeSpan HeartbeatInterval { get; } = configuration.GetValue("Streams:HeartbeatInterval", TimeSpan.FromSeconds(15));

    public int Open => Volatile.Read(ref _open);

    /// <summary>Registers a stream (false: the server holds <see cref="MaxStreams"/> already) and offers it the current state.</summary>
    public async Task<bool> OpenAsync(StreamSubscriber subscriber, CancellationToken ct)
    {
        if (Interlocked.Increment(ref _open) > MaxStreams)
        {
            Interlocked.Decrement(ref _open);
            return false;
        }
        telemetry.StreamsOpen.Add(1);
        Watch(subscriber, subscriber.RequestedId);
        var read = await reader.ReadAsync(subscriber.RequestedId, ct);
        Deliver(subscriber, read, await placements.CurrentAsync(ct));
        return true;
    }

    public void Close(StreamSubscriber subscriber)
    {
        Unwatch(subscriber);
        Interlocked.Decrement(ref _open);
        telemetry.StreamsOpen.Add(-1);
    }

    /// <summary>Offers the streams of the profiles changed what is new; <paramref name="receivedAt"/> times the push from when the causing event arrived.</summary>
    public async Task ProfilesChangedAsync(IReadOnlyDictionary<string, DateTimeOffset?> changed, CancellationToken ct)
    {
        if (_byProfile.IsEmpty) return;
        var watched = changed.Keys.Where(id => _byProfile.TryGetValue(id, out var s) && !s.IsEmpty).ToList();
        if (watched.Count == 0) return;
        var reads = await reader.ReadAsync(watched, ct);
        var catalog = await placements.CurrentAsync(ct);
        var now = DateTimeOffset.UtcNow;
        foreach (var read in reads)
        {
            if (!_byProfile.TryGetValue(read.RequestedId, out var subscribers)) continue;
            foreach (var subscriber in subscribers.Keys)
            {
                Deliver(subscriber, read, catalog);
            }
            if (changed[read.RequestedId] is { } receivedAt) telemetry.PushLatency.Record((now - receivedAt).TotalMilliseconds);
        }
    }

    /// <summary>Queues each segment change on the streams of its profile.</summary>
    public void SegmentsChanged(IEnumerable<SegmentsChanged> changes)
    {
        if (_byProfile.IsEmpty) return;
        foreach (var change in changes)
        {
            if (!_byProfile.TryGetValue(change.ProfileId, out var subscribers)) continue;
            foreach (var subscriber in subscribers.Keys)
            {
                if (subscriber.Offer(change)) telemetry.Pushed.Add(1, new KeyValuePair<string, object?>("type", "segments"));
                else telemetry.Dropped.Add(1);
            }
        }
    }

    private void Deliver(StreamSubscriber subscriber, ProfileRead read, IReadOnlyDictionary<string, Placement> catalog)
    {
        // A merge: the id watched now belongs to another profile, whose changes the stream follows from here on.
        if (read.Answer is { } profile && profile.ProfileId != subscriber.WatchedId)
        {
            Unwatch(subscriber);
            Watch(subscriber, profile.ProfileId);
        }
        if (subscriber.Offer(read, catalog)) telemetry.Pushed.Add(1, new KeyValuePair<string, object?>("type", "profile"));
        else if (subscriber.Dropped.IsCancellationRequested) telemetry.Dropped.Add(1);
    }

    private void Watch(StreamSubscriber subscriber, string profileId)
    {
        subscriber.WatchedId = profileId;
        _byProfile.GetOrAdd(profileId, _ => new ConcurrentDictionary<StreamSubscriber, byte>())[subscriber] = 0;
    }

    private void Unwatch(StreamSubscriber subscriber)
    {
        if (!_byProfile.TryGetValue(subscriber.WatchedId, out var subscribers)) return;
        subscribers.TryRemove(subscriber, out _);
        // Removed only while still empty, so a stream registering meanwhile is not lost with it.
        if (subscribers.IsEmpty) _byProfile.TryRemove(new KeyValuePair<string, ConcurrentDictionary<StreamSubscriber, byte>>(subscriber.WatchedId, subscribers));
    }

    /// <summary>A heartbeat message: sent when a stream was quiet for <see cref="HeartbeatInterval"/>, so proxies keep it open and the client knows it is alive.</summary>
    public static StreamMessage Heartbeat(DateTimeOffset now) => new("heartbeat", null, $"{{\"at\":\"{now:O}\"}}");
}
