using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Personalization.Collector.Tests;

/// <summary>Load shedding: past its concurrency and queue limits the collector answers 503 at once, accepting nothing.</summary>
public sealed class OverloadTests : IDisposable
{
    private readonly FakeSink _sink = new() { PublishGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
    private readonly WebApplicationFactory<Program> _factory;
    private readonly HttpClient _client;

    public OverloadTests()
    {
        _factory = _sink.Collector(("Collector:MaxConcurrentRequests", "2"), ("Collector:MaxQueuedRequests", "1"), ("Collector:OverloadRetryAfterSeconds", "2"));
        _client = _factory.CreateClient();
    }

    public void Dispose()
    {
        _client.Dispose();
        _factory.Dispose();
    }

    private Task<HttpResponseMessage> Track(int i) =>
        _client.PostAsync("/v1/track", new StringContent($$"""{"userId":"u{{i}}","event":"Clicked","messageId":"m-{{i}}"}""", Encoding.UTF8, "application/json"));

    [Fact]
    public async Task PastItsLimitsTheCollectorSheds503WithRetryAfterAndAcceptsNothingOfTheShedRequest()
    {
        // Two requests held inside (publishing), one waiting for a slot.
        var held = new[] { Track(1), Track(2) };
        await WaitUntil(() => _sink.PublishCallSizes.Count == 2);
        var queued = Track(3);
        await Task.Delay(200);
        Assert.False(queued.IsCompleted, "the third request should wait for a slot, not be refused");

        // Without shedding this request would wait with the others: the timeout turns that into a failure.
        using var shed = await Track(4).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, shed.StatusCode);
        Assert.Equal("application/problem+json", shed.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(2), shed.Headers.RetryAfter?.Delta);
        using var problem = JsonDocument.Parse(await shed.Content.ReadAsStringAsync());
        Assert.Equal("urn:personalization:problem:overloaded", problem.RootElement.GetProperty("type").GetString());
        Assert.Equal("Collector:MaxConcurrentRequests", problem.RootElement.GetProperty("errors")[0].GetProperty("field").GetString());
        Assert.Contains("2 requests", problem.RootElement.GetProperty("detail").GetString());

        _sink.PublishGate!.SetResult();
        foreach (var response in await Task.WhenAll([.. held, queued]))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(["m-1", "m-2", "m-3"], _sink.Published.Select(e => e.MessageId).Order());
        Assert.DoesNotContain("m-4", _sink.Markers);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(25);
        }
        Assert.True(condition(), "the requests never reached the broker");
    }
}
