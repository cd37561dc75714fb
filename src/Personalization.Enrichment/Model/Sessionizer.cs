using System.Security.Cryptography;
using System.Text;
using Personalization.Contracts;

namespace Personalization.Enrichment.Model;

/// <summary>A message already sessionized, and the answer it got.</summary>
public sealed record RecentMessage(string MessageId, SessionContext Session)
{
    /// <summary>Its bot verdict by rate, when it got one (<see cref="BotDetector"/>): a redelivery gets the same.</summary>
    public BotVerdict? Bot { get; init; }
}

/// <summary>
/// What the enrichment service keeps per profile under <see cref="StateKeys.Session"/>: the current session and the
/// last few message ids with their answers, so a redelivered event gets the same session as the first time; and the
/// profile's event counts per rate window, which bot detection reads.
/// </summary>
public sealed record SessionState(
    string SessionId,
    int Sequence,
    DateTimeOffset StartedAt,
    DateTimeOffset LastEventAt,
    IReadOnlyList<RecentMessage> Recent)
{
    /// <summary>The profile's events per rate window, newest windows only (<see cref="BotDetector"/>); absent in older states.</summary>
    public IReadOnlyList<RateBucket>? Rate { get; init; }
}

/// <summary>The session answer for one event; <see cref="Next"/> is null when nothing changes (a redelivery).</summary>
public sealed record SessionAssignment(SessionContext Session, SessionState? Next, bool IsLate)
{
    public bool IsRedelivery => Next is null;
}

/// <summary>
/// Sessionization by event time. A session is the events of one profile with no gap of
/// <see cref="Timeout"/> (30 minutes by default) or more between them:
/// <list type="bullet">
/// <item>the first event of a profile, or one at or after <c>LastEventAt + Timeout</c>, starts a new session (sequence 1);</item>
/// <item>any other event joins the current session: sequence + 1, <c>StartedAt</c> moves back when the event is
/// earlier, <c>LastEventAt</c> forward when later. Events arrive out of order, so an earlier event does not
/// open a session of its own;</item>
/// <item>an event earlier than <c>StartedAt - Timeout</c> belongs to a session long gone, which is not kept: it joins the
/// current session and is reported late (<see cref="SessionAssignment.IsLate"/>), without moving <c>StartedAt</c>.</item>
/// </list>
/// The session id is derived from the profile id and the message id of the event that opened it, so it is the same
/// whichever replica computes it. Idempotent on message id for the last <see cref="RememberedMessages"/> messages.
/// </summary>
public sealed class Sessionizer(TimeSpan timeout, int rememberedMessages = 16)
{
    public TimeSpan Timeout { get; } = timeout > TimeSpan.Zero ? timeout : throw new ArgumentOutOfRangeException(nameof(timeout));
    public int RememberedMessages { get; } = rememberedMessages > 0 ? rememberedMessages : throw new ArgumentOutOfRangeException(nameof(rememberedMessages));

    public SessionAssignment Assign(SessionState? state, string profileId, string messageId, DateTimeOffset eventTime)
    {
        if (state is not null)
        {
            foreach (var recent in state.Recent)
            {
                if (recent.MessageId == messageId) return new SessionAssignment(recent.Session, null, false);
            }
        }

        SessionContext session;
        SessionState next;
        var late = false;
        if (state is null || eventTime >= state.LastEventAt + Timeout)
        {
            session = new SessionContext(SessionIdOf(profileId, messageId), 1, true, eventTime);
            next = new SessionState(session.SessionId, 1, eventTime, eventTime, Remember(state?.Recent, messageId, session)) { Rate = state?.Rate };
        }
        else
        {
            late = eventTime < state.StartedAt - Timeout;
            var startedAt = !late && eventTime < state.StartedAt ? eventTime : state.StartedAt;
            var sequence = state.Sequence + 1;
            session = new SessionContext(state.SessionId, sequence, false, startedAt);
            next = new SessionState(
                state.SessionId,
                sequence,
                startedAt,
                eventTime > state.LastEventAt ? eventTime : state.LastEventAt,
                Remember(state.Recent, messageId, session)) { Rate = state.Rate };
        }
        return new SessionAssignment(session, next, late);
    }

    private List<RecentMessage> Remember(IReadOnlyList<RecentMessage>? recent, string messageId, SessionContext session)
    {
        var count = recent?.Count ?? 0;
        var skip = Math.Max(0, count + 1 - RememberedMessages);
        var kept = new List<RecentMessage>(count - skip + 1);
        for (var i = skip; i < count; i++) kept.Add(recent![i]);
        kept.Add(new RecentMessage(messageId, session));
        return kept;
    }

    /// <summary>32 hex characters of SHA-256 over profile id and the opening message id.</summary>
    public static string SessionIdOf(string profileId, string messageId)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(profileId + "\n" + messageId), hash);
        return Convert.ToHexStringLower(hash[..16]);
    }
}
