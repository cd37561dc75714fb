using System.Text;
using Personalization.Collector.Model;

namespace Personalization.Collector.Tests;

public sealed class BatchTests
{
    [Fact]
    public void ABatchOfMixedTypesYieldsOneEventPerItemInOrder()
    {
        var read = Requests.Batch("""
            {"batch":[
              {"type":"identify","userId":"u1","traits":{"email":"a@example.com"}},
              {"type":"track","userId":"u1","event":"Signed Up","properties":{"plan":"pro"}},
              {"type":"page","anonymousId":"a1","name":"Pricing"},
              {"type":"screen","userId":"u1","name":"Home"},
              {"type":"group","userId":"u1","groupId":"g1"},
              {"type":"alias","userId":"u1","previousId":"a1"}
            ]}
            """);

        Assert.Null(read.Problem);
        Assert.Equal(["identify", "track", "page", "screen", "group", "alias"], read.Events.Select(e => e.Type));
        Assert.Equal(6, read.Events.Select(e => e.MessageId).Distinct().Count());
    }

    [Fact]
    public void ABatchWithOneBadEventIsRejectedWholeNamingTheIndex()
    {
        var read = Requests.Batch("""
            {"batch":[
              {"type":"track","userId":"u1","event":"A"},
              {"type":"track","userId":"u1"},
              {"type":"page","userId":"u1"}
            ]}
            """);

        Assert.Empty(read.Events);
        Assert.NotNull(read.Problem);
        var error = Assert.Single(read.Problem.Errors);
        Assert.Equal("batch[1].event", error.Field);
        Assert.Equal(1, error.Index);
        Assert.Contains("rejected whole", read.Problem.Detail);
    }

    [Fact]
    public void EveryBadEventOfABatchIsListed()
    {
        var read = Requests.Batch("""{"batch":[{"type":"track","event":"A"},{"type":"identify","userId":5,"timestamp":"soon"},{"type":"nonsense","userId":"u"},{"userId":"u"},7]}""");

        Assert.NotNull(read.Problem);
        Assert.Equal(
            ["batch[0].userId", "batch[1].timestamp", "batch[2].type", "batch[3].type", "batch[4]"],
            read.Problem.Errors.Select(e => e.Field));
        Assert.Equal([0, 1, 2, 3, 4], read.Problem.Errors.Select(e => e.Index!.Value));
    }

    [Fact]
    public void ABatchWithoutABatchArrayIsRejectedNamingBatch()
    {
        Assert.Equal("batch", Assert.Single(Requests.Batch("""{"events":[]}""").Problem!.Errors).Field);
        Assert.Equal("batch", Assert.Single(Requests.Batch("""{"batch":{"type":"track"}}""").Problem!.Errors).Field);
    }

    [Fact]
    public void AnEmptyBatchIsAcceptedWithNothingToPublish()
    {
        var read = Requests.Batch("""{"batch":[]}""");
        Assert.Null(read.Problem);
        Assert.Empty(read.Events);
    }

    [Fact]
    public void ABatchOverTheLimitIsRejectedNamingTheLimit()
    {
        var options = new CollectorOptions { MaxBatchBytes = 2048 };
        var items = string.Join(",", Enumerable.Repeat("""{"type":"track","userId":"u1","event":"Clicked a button"}""", 60));

        var read = Requests.Batch($$"""{"batch":[{{items}}]}""", options);

        Assert.Equal(ProblemKind.BatchTooLarge, read.Problem!.Kind);
        Assert.Contains("2048", read.Problem.Detail);
        Assert.Empty(read.Events);
    }

    [Fact]
    public void AnOversizedEventInsideABatchRejectsTheBatchNamingTheIndexAndLimit()
    {
        var options = new CollectorOptions { MaxEventBytes = 1024 };
        var big = new string('x', 2000);

        var read = Requests.Batch($$"""{"batch":[{"type":"track","userId":"u1","event":"A"},{"type":"track","userId":"u1","event":"{{big}}"}]}""", options);

        Assert.Equal(ProblemKind.EventTooLarge, read.Problem!.Kind);
        var error = Assert.Single(read.Problem.Errors);
        Assert.Equal(("batch[1]", 1), (error.Field, error.Index));
        Assert.Contains("1024", error.Message);
    }

    [Fact]
    public void BatchContextAndIntegrationsFillInWhatAnEventLeavesOut()
    {
        var read = Requests.Batch("""
            {"context":{"library":{"name":"analytics-node"},"locale":"en-GB"},"integrations":{"All":true},
             "batch":[{"type":"track","userId":"u1","event":"A","context":{"locale":"de-DE"}}]}
            """);

        var collected = Assert.Single(read.Events);
        Assert.Equal("de-DE", (string?)collected.Context!["locale"]);
        Assert.Equal("analytics-node", (string?)collected.Context["library"]!["name"]);
        Assert.True((bool?)collected.Integrations!["All"]);
    }

    [Fact]
    public void ABatchEnvelopeFieldOfTheWrongTypeIsNamed()
    {
        Assert.Equal("context", Assert.Single(Requests.Batch("""{"context":[],"batch":[]}""").Problem!.Errors).Field);
        Assert.Equal("sentAt", Assert.Single(Requests.Batch("""{"sentAt":"later","batch":[]}""").Problem!.Errors).Field);
    }

    [Fact]
    public void TooManyErrorsAreCappedInTheAnswer()
    {
        var items = string.Join(",", Enumerable.Repeat("""{"type":"track"}""", 200));
        var read = Requests.Batch($$"""{"batch":[{{items}}]}""");

        Assert.Equal(SegmentRequestReader.MaxErrorsListed, read.Problem!.Errors.Count);
        Assert.Contains("200 events", read.Problem.Detail);
    }

    [Fact]
    public void ATypeInABatchIsCaseInsensitive()
    {
        Assert.Equal("track", Assert.Single(Requests.Batch("""{"batch":[{"type":"Track","userId":"u","event":"A"}]}""").Events).Type);
    }

    [Fact]
    public void ABatchReadsInvalidJsonAsInvalidJson()
    {
        var read = Requests.Reader().ReadBatch(Encoding.UTF8.GetBytes("""{"batch":[{"type":"track",}]}"""), Requests.Info);
        Assert.Equal(ProblemKind.InvalidJson, read.Problem!.Kind);
    }
}
