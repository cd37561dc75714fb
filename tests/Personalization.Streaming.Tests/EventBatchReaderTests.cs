using System.Text;
using System.Text.Json;
using Personalization.Streaming;

namespace Personalization.Streaming.Tests;

public sealed class EventBatchReaderTests
{
    private const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    private static string Event(string messageId, string? userId = "u1", string? anonymousId = null) =>
        JsonSerializer.Serialize(new { type = "track", messageId, userId, anonymousId, @event = "Clicked", timestamp = "2026-12-01T00:00:00Z", receivedAt = "2026-12-01T00:00:01Z" });

    private static JsonElement Entry(string data, string dataField = "data", string traceParent = TraceParent) =>
        JsonDocument.Parse($$"""{"entryId":"e1","event":{"id":"ce1","traceparent":"{{traceParent}}","{{dataField}}":{{data}}},"contentType":"application/cloudevents+json"}""").RootElement;

    [Fact]
    public void ABatchMessageYieldsEveryEventInOrder()
    {
        var delivery = EventBatchReader.Read("e1", Entry($$"""{"events":[{{Event("m1")}},{{Event("m2")}},{{Event("m3")}}]}"""), EventTopics.Collected);

        Assert.Equal(["m1", "m2", "m3"], delivery.Events.Select(e => e.MessageId));
        Assert.Equal("e1", delivery.EntryId);
        Assert.Null(delivery.Failure);
    }

    [Fact]
    public void AMessageHoldingOneEventIsReadAsABatchOfOne()
    {
        var delivery = EventBatchReader.Read("e1", Entry(Event("m1")), EventTopics.Collected);

        Assert.Equal("m1", Assert.Single(delivery.Events).MessageId);
    }

    [Fact]
    public void TheTraceTheMessageWasPublishedInIsKept()
    {
        var delivery = EventBatchReader.Read("e1", Entry(Event("m1")), EventTopics.Collected);

        Assert.Equal("0af7651916cd43dd8448eb211c80319c", delivery.Trace.TraceId.ToHexString());
    }

    [Fact]
    public void DataSentAsBase64IsDecoded()
    {
        var base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes($$"""{"events":[{{Event("m1")}}]}"""));

        var delivery = EventBatchReader.Read("e1", Entry($"\"{base64}\"", "data_base64"), EventTopics.Collected);

        Assert.Equal("m1", Assert.Single(delivery.Events).MessageId);
    }

    [Fact]
    public void FieldNamesMatchCaseInsensitivelyAsDaprDecodesThem()
    {
        var entry = JsonDocument.Parse("""{"entryID":"e1","Event":{"Data":{"Events":[""" + Event("m1") + "]}}}").RootElement;

        Assert.Equal("m1", Assert.Single(EventBatchReader.Read("e1", entry, EventTopics.Collected).Events).MessageId);
    }

    [Theory]
    [InlineData("""{"events":[]}""")]
    [InlineData("""{"events":{}}""")]
    [InlineData("""{"events":[null]}""")]
    [InlineData("""{"events":[{"type":"track"}]}""")]
    [InlineData("""{"type":"track","event":42}""")]
    [InlineData("42")]
    [InlineData("null")]
    public void AMessageThatIsNoEventOrBatchOfEventsIsRefusedAsAWhole(string data)
    {
        Assert.ThrowsAny<JsonException>(() => EventBatchReader.Read("e1", Entry(data), EventTopics.Collected));
    }

    [Fact]
    public void OneUnreadableEventRefusesItsWholeMessage()
    {
        var data = $$"""{"events":[{{Event("m1")}},{{Event("m2", userId: null)}}]}""";

        var error = Assert.ThrowsAny<JsonException>(() => EventBatchReader.Read("e1", Entry(data), EventTopics.Collected));
        Assert.Contains("m2", error.Message);
    }

    [Fact]
    public void AnAnonymousEventIsReadable()
    {
        var delivery = EventBatchReader.Read("e1", Entry(Event("m1", userId: null, anonymousId: "a1")), EventTopics.Collected);

        Assert.Equal("a1", Assert.Single(delivery.Events).ProfileId);
    }

    [Fact]
    public void AnEntryWithoutIdOrCloudEventIsRefused()
    {
        Assert.ThrowsAny<JsonException>(() => EventBatchReader.Read("", Entry(Event("m1")), EventTopics.Collected));
        Assert.ThrowsAny<JsonException>(() => EventBatchReader.Read("e1", JsonDocument.Parse("""{"entryId":"e1"}""").RootElement, EventTopics.Collected));
    }

    [Fact]
    public void AFailedDeliveryKeepsItsFirstReason()
    {
        var delivery = EventBatchReader.Read("e1", Entry(Event("m1")), EventTopics.Collected);

        delivery.Fail("first");
        delivery.Fail("second");

        Assert.Equal("first", delivery.Failure);
    }
}
