using System.Text;
using System.Text.Json;
using Personalization.Sidecar.PubSub;

namespace Personalization.Sidecar.Tests;

public sealed class CloudEventsTests
{
    private const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    private static readonly PublishContext Context = new("collector", "pubsub", "events.collected", TraceParent, "congo=t61rcWkgMzE");
    private static readonly Dictionary<string, string> NoMetadata = [];

    private static JsonElement Parse(byte[] json) => JsonDocument.Parse(json).RootElement;

    [Fact]
    public void AJsonPayloadIsEmbeddedInAnEnvelopeWithEveryDaprField()
    {
        var ce = Parse(CloudEvents.Build("""{"userId":"u1"}"""u8, "application/json", NoMetadata, Context));

        Assert.True(Guid.TryParse(ce.GetProperty("id").GetString(), out _));
        Assert.Equal("collector", ce.GetProperty("source").GetString());
        Assert.Equal("com.dapr.event.sent", ce.GetProperty("type").GetString());
        Assert.Equal("1.0", ce.GetProperty("specversion").GetString());
        Assert.Equal("application/json", ce.GetProperty("datacontenttype").GetString());
        Assert.Equal("events.collected", ce.GetProperty("topic").GetString());
        Assert.Equal("pubsub", ce.GetProperty("pubsubname").GetString());
        Assert.Equal(TraceParent, ce.GetProperty("traceparent").GetString());
        Assert.Equal(TraceParent, ce.GetProperty("traceid").GetString());
        Assert.Equal("congo=t61rcWkgMzE", ce.GetProperty("tracestate").GetString());
        Assert.True(DateTimeOffset.TryParse(ce.GetProperty("time").GetString(), out _));
        Assert.Equal("u1", ce.GetProperty("data").GetProperty("userId").GetString());
    }

    [Fact]
    public void TextIsAStringAndTheDefaultContentTypeIsTextPlain()
    {
        var ce = Parse(CloudEvents.Build("hello"u8, null, NoMetadata, Context));

        Assert.Equal("text/plain", ce.GetProperty("datacontenttype").GetString());
        Assert.Equal("hello", ce.GetProperty("data").GetString());
    }

    [Fact]
    public void InvalidJsonUnderAJsonContentTypeBecomesAString() =>
        Assert.Equal("{not json", Parse(CloudEvents.Build("{not json"u8, "application/json", NoMetadata, Context)).GetProperty("data").GetString());

    [Fact]
    public void BinaryGoesToDataBase64()
    {
        var ce = Parse(CloudEvents.Build(new byte[] { 0, 1, 255 }, "application/octet-stream", NoMetadata, Context));

        Assert.Equal(Convert.ToBase64String([0, 1, 255]), ce.GetProperty("data_base64").GetString());
        Assert.False(ce.TryGetProperty("data", out _));
    }

    [Fact]
    public void CloudEventMetadataOverridesTheFields()
    {
        var metadata = new Dictionary<string, string>
        {
            ["cloudevent.id"] = "my-id", ["cloudevent.source"] = "crm", ["cloudevent.type"] = "profile.imported",
            ["cloudevent.subject"] = "user-1", ["cloudevent.traceparent"] = "00-11111111111111111111111111111111-2222222222222222-01",
        };

        var ce = Parse(CloudEvents.Build("{}"u8, "application/json", metadata, Context));

        Assert.Equal("my-id", ce.GetProperty("id").GetString());
        Assert.Equal("crm", ce.GetProperty("source").GetString());
        Assert.Equal("profile.imported", ce.GetProperty("type").GetString());
        Assert.Equal("user-1", ce.GetProperty("subject").GetString());
        Assert.Equal("00-11111111111111111111111111111111-2222222222222222-01", ce.GetProperty("traceparent").GetString());
    }

    [Fact]
    public void AnExistingCloudEventKeepsItsFieldsAndGetsTheMissingOnes()
    {
        var ce = Parse(CloudEvents.FromExisting("""{"id":"e-1","type":"custom.type","data":{"a":1},"extension":"kept"}"""u8, NoMetadata, Context));

        Assert.Equal("e-1", ce.GetProperty("id").GetString());
        Assert.Equal("custom.type", ce.GetProperty("type").GetString());
        Assert.Equal("kept", ce.GetProperty("extension").GetString());
        Assert.Equal(1, ce.GetProperty("data").GetProperty("a").GetInt32());
        Assert.Equal("collector", ce.GetProperty("source").GetString());
        Assert.Equal("1.0", ce.GetProperty("specversion").GetString());
        Assert.Equal("events.collected", ce.GetProperty("topic").GetString());
        Assert.Equal("pubsub", ce.GetProperty("pubsubname").GetString());
        Assert.Equal(TraceParent, ce.GetProperty("traceparent").GetString());
        Assert.True(ce.TryGetProperty("time", out _));
    }

    [Fact]
    public void AnExistingCloudEventThatIsNotAJsonObjectIsRefused() =>
        Assert.Throws<FormatException>(() => CloudEvents.FromExisting("[1,2]"u8, NoMetadata, Context));

    [Fact]
    public void ARawPayloadIsDeliveredAsDataBase64()
    {
        var ce = Parse(CloudEvents.FromRawPayload("raw bytes"u8, "pubsub", "t"));

        Assert.Equal("raw bytes", Encoding.UTF8.GetString(Convert.FromBase64String(ce.GetProperty("data_base64").GetString()!)));
        Assert.Equal("application/octet-stream", ce.GetProperty("datacontenttype").GetString());
        Assert.Equal("t", ce.GetProperty("topic").GetString());
    }

    [Theory]
    [InlineData("application/json", true)]
    [InlineData("application/json; charset=utf-8", true)]
    [InlineData("application/problem+json", true)]
    [InlineData("text/plain", false)]
    [InlineData(null, false)]
    public void JsonContentTypesAreRecognised(string? contentType, bool json) => Assert.Equal(json, CloudEvents.IsJson(contentType));
}
