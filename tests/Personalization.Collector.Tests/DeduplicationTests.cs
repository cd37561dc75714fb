using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Personalization.Collector.Model;
using Personalization.Contracts;

namespace Personalization.Collector.Tests;

public sealed class DeduplicationTests
{
    private static CollectedEvent Event(string messageId, string type = "track", string userId = "u1") => new()
    {
        Type = type,
        MessageId = messageId,
        UserId = userId,
        Event = type == "track" ? "A" : null,
        Timestamp = Requests.ReceivedAt,
        ReceivedAt = Requests.ReceivedAt,
    };

    private static IngestionPipeline Pipeline(FakeSink sink, CollectorOptions? options = null)
    {
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        return new IngestionPipeline(sink, sink, Options.Create(options ?? new CollectorOptions()), new CollectorMetrics(meters),
            TimeProvider.System, NullLogger<IngestionPipeline>.Instance);
    }

    [Fact]
    public void EventsWhoseMarkerExistsAreDuplicates()
    {
        var plan = DedupePlan.Create([Event("m1"), Event("m2"), Event("m3")], new HashSet<string> { "m2" });

        Assert.Equal(["m1", "m3"], plan.ToPublish.Select(e => e.MessageId));
        Assert.Equal(["m2"], plan.Duplicates.Select(e => e.MessageId));
    }

    [Fact]
    public void AMessageIdRepeatedInOneBatchIsPublishedOnce()
    {
        var plan = DedupePlan.Create([Event("m1"), Event("m1"), Event("m2")], new HashSet<string>());

        Assert.Equal(["m1", "m2"], plan.ToPublish.Select(e => e.MessageId));
        Assert.Single(plan.Duplicates);
    }

    [Fact]
    public async Task AnErasedUsersEventsAreAcceptedButNeitherPublishedNorMarked()
    {
        var sink = new FakeSink();
        sink.Suppressed.Add("erased");

        var outcome = await Pipeline(sink).IngestAsync([Event("m1", userId: "erased"), Event("m2", userId: "u2")], CancellationToken.None);

        Assert.True(outcome.IsAccepted);
        Assert.Equal(["m2"], sink.Published.Select(e => e.MessageId));
        Assert.Equal(["m2"], sink.Markers);
        Assert.Equal(["find", "publish", "mark"], sink.Calls);
    }

    [Fact]
    public void MarkerKeysArePrefixed()
    {
        Assert.Equal("dedupe:m-1", StateKeys.Dedupe("m-1"));
    }

    [Fact]
    public async Task NewEventsArePublishedInOneBulkCallBeforeTheirMarkersAreWritten()
    {
        var sink = new FakeSink();

        var outcome = await Pipeline(sink).IngestAsync([Event("m1"), Event("m2", "page")], CancellationToken.None);

        Assert.True(outcome.IsAccepted);
        Assert.Equal(2, outcome.Published);
        Assert.Equal(["find", "publish", "mark"], sink.Calls);
        Assert.Equal([2], sink.PublishCallSizes);
        Assert.Equal(["m1", "m2"], sink.Markers.Order());
    }

    [Fact]
    public async Task TheSameEventSentTwiceIsPublishedOnce()
    {
        var sink = new FakeSink();
        var pipeline = Pipeline(sink);

        await pipeline.IngestAsync([Event("m1")], CancellationToken.None);
        var second = await pipeline.IngestAsync([Event("m1")], CancellationToken.None);

        Assert.True(second.IsAccepted);
        Assert.Equal((0, 1), (second.Published, second.Duplicates));
        Assert.Single(sink.Published);
    }

    [Fact]
    public async Task ARequestOfOnlyDuplicatesIsAcceptedWithoutPublishing()
    {
        var sink = new FakeSink();
        sink.Markers.Add("m1");

        var outcome = await Pipeline(sink).IngestAsync([Event("m1")], CancellationToken.None);

        Assert.True(outcome.IsAccepted);
        Assert.DoesNotContain("publish", sink.Calls);
    }

    [Fact]
    public async Task WhenTheBrokerIsDownNothingIsAcceptedAndNoMarkerIsWritten()
    {
        var sink = new FakeSink { BrokerDown = true };

        var outcome = await Pipeline(sink).IngestAsync([Event("m1")], CancellationToken.None);

        Assert.False(outcome.IsAccepted);
        Assert.Equal(ProblemKind.Unavailable, outcome.Problem!.Kind);
        Assert.Empty(sink.Markers);
    }

    [Fact]
    public async Task AfterTheBrokerIsBackTheRetriedEventIsPublished()
    {
        var sink = new FakeSink { BrokerDown = true };
        var pipeline = Pipeline(sink);
        await pipeline.IngestAsync([Event("m1")], CancellationToken.None);

        sink.BrokerDown = false;
        var retry = await pipeline.IngestAsync([Event("m1")], CancellationToken.None);

        Assert.True(retry.IsAccepted);
        Assert.Equal(["m1"], sink.Published.Select(e => e.MessageId));
    }

    [Fact]
    public async Task WhenTheStateStoreIsDownNothingIsPublished()
    {
        var sink = new FakeSink { StoreDown = true };

        var outcome = await Pipeline(sink).IngestAsync([Event("m1")], CancellationToken.None);

        Assert.Equal(ProblemKind.Unavailable, outcome.Problem!.Kind);
        Assert.Empty(sink.Published);
    }

    [Fact]
    public async Task AnEntryTheBrokerRefusesMakesTheRequestUnavailableAndOnlyQueuedEntriesGetMarkers()
    {
        var sink = new FakeSink();
        sink.RefusedByBroker.Add("m2");

        var outcome = await Pipeline(sink).IngestAsync([Event("m1"), Event("m2")], CancellationToken.None);

        Assert.Equal(ProblemKind.Unavailable, outcome.Problem!.Kind);
        Assert.Contains("1 of 2", outcome.Problem.Detail);
        Assert.Equal(["m1"], sink.Markers);
    }

    [Fact]
    public async Task AFailedMarkerWriteAfterAConfirmedPublishStillAcceptsTheEvents()
    {
        var sink = new FakeSink { MarkerWritesFail = true };

        var outcome = await Pipeline(sink).IngestAsync([Event("m1")], CancellationToken.None);

        Assert.True(outcome.IsAccepted);
        Assert.Single(sink.Published);
    }

    [Fact]
    public async Task ASidecarThatDoesNotAnswerInTimeMakesTheRequestUnavailable()
    {
        var sink = new FakeSink { PublishDelay = TimeSpan.FromSeconds(30) };
        var options = new CollectorOptions { SidecarTimeout = TimeSpan.FromMilliseconds(200) };

        var outcome = await Pipeline(sink, options).IngestAsync([Event("m1")], CancellationToken.None);

        Assert.Equal(ProblemKind.Unavailable, outcome.Problem!.Kind);
        Assert.Empty(sink.Markers);
    }

    [Fact]
    public async Task MarkersLiveForTheConfiguredDedupeWindow()
    {
        var sink = new FakeSink();

        await Pipeline(sink, new CollectorOptions { DedupeWindow = TimeSpan.FromHours(2) }).IngestAsync([Event("m1")], CancellationToken.None);

        Assert.Equal(TimeSpan.FromHours(2), sink.LastTtl);
    }
}
