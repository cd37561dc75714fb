using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace Personalization.EndToEndTests;

/// <summary>Talks to the platform the way a client does: through the gateway, with the development keys.</summary>
public sealed class GatewayClient(DistributedApplication app) : IDisposable
{
    public const string WriteKey = "dev-write-key";
    public const string ReadKey = "dev-read-key";
    public const string AdminKey = "dev-admin-key";

    private readonly HttpClient _http = app.CreateHttpClient("gateway", "http");

    /// <summary>POST /v1/batch with the write key as HTTP Basic user name, as Segment SDKs send it.</summary>
    public async Task<HttpResponseMessage> SendBatchAsync(params JsonObject[] events)
    {
        using var request = BatchRequest(events);
        return await _http.SendAsync(request);
    }

    /// <summary>A <c>POST /v1/batch</c> of <paramref name="events"/>, for tests that send with their own HttpClient.</summary>
    public static HttpRequestMessage BatchRequest(IEnumerable<JsonObject> events)
    {
        var body = new JsonObject { ["batch"] = new JsonArray(events.Select(e => (JsonNode)e.DeepClone()).ToArray()), ["sentAt"] = DateTimeOffset.UtcNow.ToString("O") };
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batch") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(WriteKey + ":")));
        return request;
    }

    /// <summary>A <c>GET /v1/profiles/{id}</c> with the read key.</summary>
    public static HttpRequestMessage ProfileRequest(string userId)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/profiles/{userId}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ReadKey);
        return request;
    }

    /// <summary>A request with a read or admin key as Bearer token, or a write key as HTTP Basic user name.</summary>
    public static HttpRequestMessage Request(HttpMethod method, string path, string key, object? body = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = key == WriteKey
            ? new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(WriteKey + ":")))
            : new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request) => _http.SendAsync(request);

    /// <summary>Sends and answers the JSON body, asserting the status.</summary>
    public async Task<JsonObject> SendExpectingAsync(HttpRequestMessage request, HttpStatusCode expected)
    {
        using (request)
        {
            using var response = await _http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected, $"{request.Method} {request.RequestUri} answered {(int)response.StatusCode}, not {(int)expected}: {body}");
            return JsonNode.Parse(body)!.AsObject();
        }
    }

    /// <summary>A request with the admin key, answering its JSON body; asserts the status.</summary>
    public Task<JsonObject> AdminAsync(HttpMethod method, string path, HttpStatusCode expected, object? body = null) =>
        SendExpectingAsync(Request(method, path, AdminKey, body), expected);

    public async Task SendAcceptedAsync(params JsonObject[] events)
    {
        using var response = await SendBatchAsync(events);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"batch answered {(int)response.StatusCode}: {body}");
    }

    public async Task PutConsentAsync(string userId, object purposes)
    {
        using var request = Request(HttpMethod.Put, $"/v1/consent/{userId}", WriteKey, new { purposes });
        using var response = await _http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"consent PUT answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>GET /v1/profiles/{id} with the read key; null on 404.</summary>
    public async Task<JsonObject?> GetProfileAsync(string userId)
    {
        using var request = ProfileRequest(userId);
        using var response = await _http.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        Assert.True(response.IsSuccessStatusCode, $"profile GET answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    /// <summary>Polls the profile until <paramref name="done"/> holds; fails with the last profile seen.</summary>
    public async Task<JsonObject> WaitForProfileAsync(string userId, Func<JsonObject, bool> done, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(45));
        JsonObject? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await GetProfileAsync(userId);
            if (last is not null && done(last))
            {
                return last;
            }
            await Task.Delay(200);
        }
        Assert.Fail($"profile {userId} never reached the expected state; last seen: {last?.ToJsonString() ?? "404"}");
        return null!;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Segment-shaped events for the tests.</summary>
public static class Events
{
    /// <summary>A user id no other test uses.</summary>
    public static string NewUser(string label) => $"{label}-{Guid.NewGuid():N}";

    public static JsonObject Identify(string userId, JsonObject traits, string? messageId = null) => new()
    {
        ["type"] = "identify", ["userId"] = userId, ["traits"] = traits, ["messageId"] = messageId ?? Guid.NewGuid().ToString(),
        ["timestamp"] = DateTimeOffset.UtcNow.ToString("O"),
    };

    public static JsonObject Track(string userId, string name, string? messageId = null, JsonObject? properties = null) => new()
    {
        ["type"] = "track", ["userId"] = userId, ["event"] = name, ["messageId"] = messageId ?? Guid.NewGuid().ToString(),
        ["properties"] = properties ?? new JsonObject(), ["timestamp"] = DateTimeOffset.UtcNow.ToString("O"),
        ["context"] = new JsonObject { ["userAgent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36" },
    };

    public static JsonObject Page(string userId, string name, string? messageId = null) => new()
    {
        ["type"] = "page", ["userId"] = userId, ["name"] = name, ["messageId"] = messageId ?? Guid.NewGuid().ToString(),
        ["timestamp"] = DateTimeOffset.UtcNow.ToString("O"),
    };

    public static long Long(this JsonObject profile, string property) => profile[property]?.GetValue<long>() ?? 0;

    public static long Count(this JsonObject profile, string eventName) =>
        profile["eventCounts"]?[eventName]?.GetValue<long>() ?? 0;
}
