using System.Net;
using Aspire.Hosting.Testing;

namespace Personalization.EndToEndTests;

/// <summary>
/// A burst far past what the collector handles at once is shed with 503 + Retry-After through the gateway (not queued
/// without bound), and a client that retries as Segment SDKs do still has every event counted exactly once.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class OverloadTests(PlatformFixture platform)
{
    private const int Burst = 240;
    private const int EventsPerBatch = 5;

    [Fact]
    public async Task ABurstPastTheCollectorsLimitsIsShedWith503AndRetriedBatchesCountExactlyOnce()
    {
        using var http = new HttpClient { BaseAddress = platform.App.GetEndpoint("gateway", "http"), Timeout = TimeSpan.FromSeconds(60) };
        var user = $"overload-{Guid.NewGuid():N}";
        var shed = 0;
        var retryAfterMissing = 0;
        var otherProblems = new List<string>();

        await Task.WhenAll(Enumerable.Range(0, Burst).Select(async b =>
        {
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (true)
            {
                using var request = GatewayClient.BatchRequest(Enumerable.Range(0, EventsPerBatch).Select(i => Events.Track(user, "Burst", $"{user}-{b}-{i}")));
                using var response = await http.SendAsync(request);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable && body.Contains("problem:overloaded", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref shed);
                    if (response.Headers.RetryAfter?.Delta is not { } retryAfter)
                    {
                        Interlocked.Increment(ref retryAfterMissing);
                        retryAfter = TimeSpan.FromSeconds(1);
                    }
                    Assert.True(DateTime.UtcNow < deadline, $"batch {b} still shed after 3 minutes");
                    // Spread the retries as SDKs do (Retry-After plus jitter), else they all come back at once.
                    await Task.Delay(retryAfter + TimeSpan.FromMilliseconds(Random.Shared.Next(0, 1000)));
                    continue;
                }
                lock (otherProblems)
                {
                    otherProblems.Add($"{(int)response.StatusCode}: {body}");
                }
                return;
            }
        }));

        Assert.Empty(otherProblems);
        Assert.True(shed > 0, $"none of {Burst} concurrent batches was shed: the collector queued them all");
        Assert.Equal(0, retryAfterMissing);

        using var gateway = new GatewayClient(platform.App);
        var profile = await gateway.WaitForProfileAsync(user, p => p.Count("Burst") >= Burst * EventsPerBatch, TimeSpan.FromMinutes(2));
        await Task.Delay(TimeSpan.FromSeconds(2));
        profile = (await gateway.GetProfileAsync(user))!;
        Assert.Equal(Burst * EventsPerBatch, profile.Count("Burst"));
    }
}
