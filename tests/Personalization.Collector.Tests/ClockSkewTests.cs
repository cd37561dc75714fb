using Personalization.Collector.Model;

namespace Personalization.Collector.Tests;

public sealed class ClockSkewTests
{
    private static readonly DateTimeOffset Received = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ADeviceClockAnHourFastIsCorrectedByTheTimeBetweenTimestampAndSentAt()
    {
        // The device thinks it is 13:00:10 when it sends; the event happened 10 s before that.
        var original = new DateTimeOffset(2024, 5, 1, 13, 0, 0, TimeSpan.Zero);
        var sentAt = new DateTimeOffset(2024, 5, 1, 13, 0, 10, TimeSpan.Zero);

        Assert.Equal(Received.AddSeconds(-10), ClockSkew.Correct(original, sentAt, Received));
    }

    [Fact]
    public void WithoutSentAtTheClientTimestampIsKept()
    {
        var original = new DateTimeOffset(2024, 4, 30, 8, 0, 0, TimeSpan.Zero);

        Assert.Equal(original, ClockSkew.Correct(original, null, Received));
    }

    [Fact]
    public void WithoutATimestampTheEventHappenedWhenItWasReceived()
    {
        Assert.Equal(Received, ClockSkew.Correct(null, Received.AddHours(3), Received));
    }

    [Fact]
    public void TheReaderAppliesTheCorrectionAndKeepsTheOriginalTimestamp()
    {
        var read = Requests.Single("track",
            """{"userId":"u1","event":"Clicked","timestamp":"2024-05-01T15:00:00Z","sentAt":"2024-05-01T15:00:30Z"}""");

        var collected = Assert.Single(read.Events);
        Assert.Equal(Requests.ReceivedAt.AddSeconds(-30), collected.Timestamp);
        Assert.Equal(new DateTimeOffset(2024, 5, 1, 15, 0, 0, TimeSpan.Zero), collected.OriginalTimestamp);
        Assert.Equal(new DateTimeOffset(2024, 5, 1, 15, 0, 30, TimeSpan.Zero), collected.SentAt);
        Assert.Equal(Requests.ReceivedAt, collected.ReceivedAt);
    }

    [Fact]
    public void ABatchSentAtCorrectsEveryEventThatHasNoneOfItsOwn()
    {
        var read = Requests.Batch("""
            {"sentAt":"2024-05-01T10:00:00Z","batch":[
              {"type":"track","userId":"u1","event":"A","timestamp":"2024-05-01T09:59:00Z"},
              {"type":"page","userId":"u1","timestamp":"2024-05-01T09:59:50Z","sentAt":"2024-05-01T09:59:55Z"}
            ]}
            """);

        Assert.Null(read.Problem);
        Assert.Equal(Requests.ReceivedAt.AddMinutes(-1), read.Events[0].Timestamp);
        Assert.Equal(Requests.ReceivedAt.AddSeconds(-5), read.Events[1].Timestamp);
    }

    [Fact]
    public void ATimestampWithoutOffsetIsTakenAsUtc()
    {
        var read = Requests.Single("track", """{"userId":"u1","event":"A","timestamp":"2024-05-01T09:00:00"}""");

        Assert.Equal(new DateTimeOffset(2024, 5, 1, 9, 0, 0, TimeSpan.Zero), Assert.Single(read.Events).OriginalTimestamp);
    }

    [Fact]
    public void ATimestampWithAnOffsetKeepsItsInstant()
    {
        var read = Requests.Single("track", """{"userId":"u1","event":"A","timestamp":"2024-05-01T11:00:00+02:00"}""");

        Assert.Equal(new DateTimeOffset(2024, 5, 1, 9, 0, 0, TimeSpan.Zero), Assert.Single(read.Events).OriginalTimestamp!.Value.ToUniversalTime());
    }

    [Theory]
    [InlineData("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z")]
    [InlineData("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z")]
    [InlineData("0001-01-01T00:00:00Z", "2024-05-01T12:00:00Z")]
    public void TimesAtTheFarEndsOfTheCalendarAreRejectedNamingTheTimestampInsteadOfOverflowing(string timestamp, string sentAt)
    {
        var read = Requests.Batch($$"""{"batch":[{"type":"track","userId":"u1","event":"A","timestamp":"{{timestamp}}","sentAt":"{{sentAt}}"}]}""");

        Assert.NotNull(read.Problem);
        Assert.Equal(400, read.Problem.Status);
        var error = Assert.Single(read.Problem.Errors);
        Assert.Equal("batch[0].timestamp", error.Field);
        Assert.Contains("clock skew", error.Message);
    }

    [Theory]
    [InlineData("1969-12-31T23:59:59Z", "earliest event time accepted is 1970-01-01")]
    [InlineData("2024-05-09T12:00:00Z", "at most 7 days after the request arrived")]
    public void AnEventTimeBefore1970OrAWeekAheadIsRejectedWithTheLimit(string timestamp, string limit)
    {
        var read = Requests.Single("track", $$"""{"userId":"u1","event":"A","timestamp":"{{timestamp}}"}""");

        Assert.NotNull(read.Problem);
        Assert.Contains(limit, Assert.Single(read.Problem.Errors).Message);
    }

    [Fact]
    public void AnEventTimeWithinTheBoundsIsKept()
    {
        var read = Requests.Single("track", """{"userId":"u1","event":"A","timestamp":"1970-01-01T00:00:00Z"}""");

        Assert.Null(read.Problem);
        Assert.Equal(ClockSkew.Earliest, Assert.Single(read.Events).Timestamp);
    }
}
