using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.Tests;

public sealed class SessionizerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly Sessionizer _sessionizer = new(TimeSpan.FromMinutes(30), rememberedMessages: 4);

    private SessionState Run(params (string MessageId, DateTimeOffset At)[] events)
    {
        SessionState? state = null;
        foreach (var (id, at) in events) state = _sessionizer.Assign(state, "p1", id, at).Next ?? state;
        return state!;
    }

    [Fact]
    public void FirstEventOfAProfileOpensASession()
    {
        var assignment = _sessionizer.Assign(null, "p1", "m1", T0);
        Assert.True(assignment.Session.IsNewSession);
        Assert.Equal(1, assignment.Session.Sequence);
        Assert.Equal(T0, assignment.Session.StartedAt);
        Assert.NotNull(assignment.Next);
    }

    [Fact]
    public void EventWithinThirtyMinutesJoinsTheSessionWithTheNextSequence()
    {
        var state = Run(("m1", T0));
        var assignment = _sessionizer.Assign(state, "p1", "m2", T0.AddMinutes(29));
        Assert.False(assignment.Session.IsNewSession);
        Assert.Equal(state.SessionId, assignment.Session.SessionId);
        Assert.Equal(2, assignment.Session.Sequence);
    }

    [Fact]
    public void ThirtyMinutesOfInactivityByEventTimeOpensANewSession()
    {
        var state = Run(("m1", T0), ("m2", T0.AddMinutes(10)));
        var assignment = _sessionizer.Assign(state, "p1", "m3", T0.AddMinutes(40));
        Assert.True(assignment.Session.IsNewSession);
        Assert.NotEqual(state.SessionId, assignment.Session.SessionId);
        Assert.Equal(1, assignment.Session.Sequence);
    }

    [Fact]
    public void RedeliveredEventGetsTheSameSessionAnswerAndChangesNothing()
    {
        var state = Run(("m1", T0));
        var first = _sessionizer.Assign(state, "p1", "m2", T0.AddMinutes(50));
        var again = _sessionizer.Assign(first.Next, "p1", "m2", T0.AddMinutes(50));
        Assert.True(again.IsRedelivery);
        Assert.Equal(first.Session, again.Session);
        Assert.True(again.Session.IsNewSession);
    }

    [Fact]
    public void RedeliveryIsRecognisedOnlyForTheLastRememberedMessages()
    {
        var state = Run(("m1", T0), ("m2", T0.AddMinutes(1)), ("m3", T0.AddMinutes(2)), ("m4", T0.AddMinutes(3)), ("m5", T0.AddMinutes(4)));
        Assert.Equal(4, state.Recent.Count);
        Assert.True(_sessionizer.Assign(state, "p1", "m2", T0.AddMinutes(1)).IsRedelivery);
        Assert.False(_sessionizer.Assign(state, "p1", "m1", T0).IsRedelivery);
    }

    [Fact]
    public void EarlierEventArrivingLateJoinsTheSessionAndMovesItsStartBack()
    {
        var state = Run(("m1", T0));
        var assignment = _sessionizer.Assign(state, "p1", "m0", T0.AddMinutes(-5));
        Assert.False(assignment.Session.IsNewSession);
        Assert.False(assignment.IsLate);
        Assert.Equal(T0.AddMinutes(-5), assignment.Next!.StartedAt);
        Assert.Equal(T0, assignment.Next.LastEventAt);
    }

    [Fact]
    public void EventOlderThanTheSessionByMoreThanTheTimeoutIsReportedLate()
    {
        var state = Run(("m1", T0));
        var assignment = _sessionizer.Assign(state, "p1", "old", T0.AddHours(-3));
        Assert.True(assignment.IsLate);
        Assert.False(assignment.Session.IsNewSession);
        Assert.Equal(T0, assignment.Next!.StartedAt);
    }

    [Fact]
    public void SessionIdDependsOnlyOnProfileAndOpeningMessage()
    {
        Assert.Equal(Sessionizer.SessionIdOf("p1", "m1"), _sessionizer.Assign(null, "p1", "m1", T0).Session.SessionId);
        Assert.NotEqual(Sessionizer.SessionIdOf("p1", "m1"), Sessionizer.SessionIdOf("p2", "m1"));
        Assert.Equal(32, Sessionizer.SessionIdOf("p1", "m1").Length);
    }
}
