using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Personalization.Collector.Tests;

/// <summary>The collector over HTTP, with the state store and broker replaced by <see cref="FakeSink"/>.</summary>
public sealed class TrackingApiTests : IDisposable
{
    private readonly FakeSink _sink = new();
    private readonly WebApplicationFactory<Program> _factory;
    private readonly HttpClient _client;

    public TrackingApiTests()
    {
        _factory = _sink.Collector();
        _client = _factory.CreateClient();
    }

    public void Dispose()
    {
        _client.Dispose();
        _factory.Dispose();
    }

    private Task<HttpResponseMessage> Post(string path, string json, string? source = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (source is not null)
        {
            request.Headers.Add("X-Source", source);
        }
        return _client.SendAsync(request);
    }

    [Fact]
    public async Task ATrackAnswersSuccessTrueAsSegmentDoesAndIsPublished()
    {
        var response = await Post("/v1/track", """{"userId":"u1","event":"Clicked","messageId":"m-1"}""", source: "web");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"success":true}""", await response.Content.ReadAsStringAsync());
        var published = Assert.Single(_sink.Published);
        Assert.Equal(("m-1", "web", "track"), (published.MessageId, published.Source, published.Type));
    }

    [Theory]
    [InlineData("Sec-GPC", "1", new[] { "gpc" })]
    [InlineData("DNT", "1", new[] { "dnt" })]
    [InlineData("Sec-GPC", "0", null)]
    [InlineData("DNT", "yes", null)]
    public async Task OptOutHeadersTravelWithTheEventsAsSignals(string header, string value, string[]? signals)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batch")
        {
            Content = new StringContent("""{"batch":[{"type":"track","userId":"u1","event":"A"},{"type":"page","userId":"u1"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(header, value);

        Assert.Equal(HttpStatusCode.OK, (await _client.SendAsync(request)).StatusCode);
        Assert.Equal(2, _sink.Published.Count);
        Assert.All(_sink.Published, e => Assert.Equal(signals, e.Signals));
    }

    [Fact]
    public async Task APayloadCannotClaimSignalsOrPurposes()
    {
        var response = await Post("/v1/track", """{"userId":"u1","event":"A","signals":["gpc"],"purposes":["marketing"]}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var published = Assert.Single(_sink.Published);
        Assert.Null(published.Signals);
        Assert.Null(published.Purposes);
    }

    [Fact]
    public async Task TheAnalyticsJsShortPathsAreServed()
    {
        var response = await Post("/v1/p", """{"anonymousId":"a1","name":"Home"}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("page", Assert.Single(_sink.Published).Type);
    }

    [Fact]
    public async Task ABatchIsPublishedInOneBulkCall()
    {
        var response = await Post("/v1/batch", """{"batch":[{"type":"identify","userId":"u1"},{"type":"track","userId":"u1","event":"A"}]}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([2], _sink.PublishCallSizes);
    }

    [Fact]
    public async Task InvalidInputIsA400ProblemNamingTheField()
    {
        var response = await Post("/v1/track", """{"userId":"u1"}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("urn:personalization:problem:invalid-event", problem.RootElement.GetProperty("type").GetString());
        Assert.Equal("event", problem.RootElement.GetProperty("errors")[0].GetProperty("field").GetString());
        Assert.Empty(_sink.Calls);
    }

    [Fact]
    public async Task ABatchWithOneBadEventPublishesNothing()
    {
        var response = await Post("/v1/batch", """{"batch":[{"type":"track","userId":"u1","event":"A"},{"type":"track","event":"B"}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(1, problem.RootElement.GetProperty("errors")[0].GetProperty("index").GetInt32());
        Assert.Empty(_sink.Published);
    }

    [Fact]
    public async Task AnOversizedBodyIsA400NamingTheLimitWithoutBeingRead()
    {
        var json = $$$"""{"userId":"u1","event":"A","properties":{"x":"{{{new string('x', 40_000)}}}"}}""";

        var response = await Post("/v1/track", json);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("urn:personalization:problem:event-too-large", text);
        Assert.Contains("32768", text);
    }

    [Fact]
    public async Task InvalidUtf8IsA400NotA500()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"userId":"u1","event":"A_"}""");
        bytes[Array.IndexOf(bytes, (byte)'_')] = 0xFE;
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        var response = await _client.PostAsync("/v1/track", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("invalid-utf8", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("br")]
    [InlineData("deflate")]
    public async Task ABodyThatDoesNotDecompressIsA400NamingTheContentEncoding(string encoding)
    {
        var content = new ByteArrayContent([0x1F, 0x8B, 0x08, 0x00, .. Encoding.UTF8.GetBytes("""{"userId":"u1","event":"A"}""")]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        content.Headers.ContentEncoding.Add(encoding);

        var response = await _client.PostAsync("/v1/track", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Content-Encoding", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task WhenTheBrokerIsDownTheAnswerIs503WithRetryAfter()
    {
        _sink.BrokerDown = true;

        var response = await Post("/v1/track", """{"userId":"u1","event":"A"}""");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
        Assert.Contains("urn:personalization:problem:unavailable", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheSameMessageIdTwiceIsPublishedOnceAndBothAnswersAreSuccess()
    {
        var first = await Post("/v1/track", """{"userId":"u1","event":"A","messageId":"dup-1"}""");
        var second = await Post("/v1/track", """{"userId":"u1","event":"A","messageId":"dup-1"}""");

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (first.StatusCode, second.StatusCode));
        Assert.Single(_sink.Published);
    }

    [Fact]
    public async Task ATextPlainBodyAsAnalyticsJsSendsItIsAccepted()
    {
        var response = await _client.PostAsync("/v1/t", new StringContent("""{"anonymousId":"a1","event":"A"}""", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
