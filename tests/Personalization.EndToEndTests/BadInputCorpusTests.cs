using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Aspire.Hosting.Testing;
using CsCheck;
using Xunit.Abstractions;

namespace Personalization.EndToEndTests;

/// <summary>
/// 10,000 generated requests (<see cref="BadInputCorpus"/>) through the gateway of the running platform: no answer is
/// a 5xx; every 4xx is problem+json with a type of ours and a detail, and a 400, 413 or 415 names the field or limit;
/// no rejected ingestion request left any of its events behind; and the platform still answers and counts afterwards.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class BadInputCorpusTests(PlatformFixture platform, ITestOutputHelper output)
{
    private const int Cases = 10_000;

    [Fact]
    public async Task TenThousandGeneratedRequestsGetNo5xxOnlyProblemJson4xxAndLeaveNothingHalfWritten()
    {
        using var http = platform.App.CreateHttpClient("gateway", "http");
        http.Timeout = TimeSpan.FromSeconds(60);
        var statuses = new ConcurrentDictionary<int, int>();
        var rejectedUsers = new ConcurrentBag<string>();
        var refusedByKestrel = 0;

        await BadInputCorpus.Cases.SampleAsync(async corpusCase =>
        {
            using var request = corpusCase.ToRequest();
            using var response = await http.SendAsync(request);
            var status = (int)response.StatusCode;
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(status < 500, $"{status} for {corpusCase}: {body}");
            if (status == 400 && body.Length == 0 && corpusCase.Path.Contains("%00", StringComparison.Ordinal)
                && !response.Headers.Contains("X-Request-Id"))
            {
                // Kestrel refuses a request target with an encoded NUL while parsing the request line, before any
                // application code runs (no body, connection closed); nothing of ours can answer it.
                Interlocked.Increment(ref refusedByKestrel);
                return;
            }
            if (status is >= 400 and < 500)
            {
                AssertProblem(corpusCase, response, status, body);
                if (corpusCase.UserId is { } userId) rejectedUsers.Add(userId);
            }
        }, iter: Cases, threads: 8, seed: Environment.GetEnvironmentVariable("CORPUS_SEED"));

        output.WriteLine("answers: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"))
            + $"; refused by Kestrel before the gateway's code: {refusedByKestrel}");
        Assert.True(statuses.Keys.Count(s => s is >= 400 and < 500) >= 5, "the corpus must provoke many kinds of rejection");
        Assert.True(statuses.GetValueOrDefault(200) > 500, "the corpus must also hold requests that are accepted");

        // Nothing half-published: once the pipeline has had time, no rejected request's user has a profile.
        using var client = new GatewayClient(platform.App);
        var probe = $"corpus-after-{Guid.NewGuid():N}";
        await client.SendAcceptedAsync(Events.Track(probe, "After Corpus"));
        await client.WaitForProfileAsync(probe, p => p.Long("totalEvents") == 1);
        foreach (var userId in rejectedUsers.Take(300))
        {
            Assert.True(await client.GetProfileAsync(userId) is null, $"{userId}: a rejected request left events behind");
        }
        Assert.NotEmpty(rejectedUsers);
    }

    private static void AssertProblem(CorpusCase corpusCase, HttpResponseMessage response, int status, string body)
    {
        if (corpusCase.Method == "HEAD") return;
        var context = $"{status} for {corpusCase}: {body}";
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"not problem+json: {context}");
        using var json = JsonDocument.Parse(body);
        var problem = json.RootElement;
        Assert.True(problem.TryGetProperty("type", out var type) && type.GetString()!.StartsWith("urn:personalization:problem:", StringComparison.Ordinal),
            $"no type of ours: {context}");
        Assert.True(problem.TryGetProperty("detail", out var detail) && detail.GetString()!.Length > 0, $"no detail: {context}");
        if (status is 400 or 413 or 415)
        {
            var names = problem.TryGetProperty("field", out _)
                || problem.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0
                || problem.TryGetProperty("limit", out _);
            Assert.True(names, $"names no field or limit: {context}");
        }
        if (status == (int)HttpStatusCode.RequestEntityTooLarge)
        {
            Assert.Contains("at most", detail.GetString()!);
        }
    }
}
