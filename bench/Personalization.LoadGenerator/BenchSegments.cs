using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Personalization.LoadGenerator;

/// <summary>
/// Segments active during a run (<c>--segments N</c>), created through the gateway with the admin key before the
/// warm-up and deleted after the run, so every profile change is evaluated against N rules. They cycle through five
/// shapes over what the clickstream produces: page views in 24 h, product views in the last hour, orders and revenue in
/// 30 days, churn risk or days since last seen, and a trait with sessions in 7 days; thresholds differ per segment.
/// </summary>
public sealed class BenchSegments(HttpClient http, Uri gateway, string adminKey, string runId)
{
    private readonly List<string> _created = [];

    public IReadOnlyList<string> Created => _created;

    public static JsonObject Rule(int i) => (i % 5) switch
    {
        0 => Condition("pageViews", ">=", i / 5 + 1, window: "24h"),
        1 => Condition("events", ">", i / 5, window: "1h", eventName: "Product Viewed"),
        2 => new JsonObject { ["all"] = new JsonArray(Condition("orders", ">=", 1, window: "30d"), Condition("revenue", ">", i * 10, window: "30d")) },
        3 => new JsonObject { ["any"] = new JsonArray(Condition("flags.churnRisk", "==", true), Condition("daysSinceLastSeen", ">", i)) },
        _ => new JsonObject { ["all"] = new JsonArray(Condition("traits.plan", "exists", true), Condition("sessions", ">=", i / 5 + 1, window: "7d")) },
    };

    public async Task CreateAsync(int count, CancellationToken ct)
    {
        for (var i = 0; i < count; i++)
        {
            var id = $"lg{runId}-{i:D2}";
            using var request = Request(HttpMethod.Post, "/v1/segments", new JsonObject { ["id"] = id, ["name"] = $"Load generator {i}", ["rule"] = Rule(i) });
            using var response = await http.SendAsync(request, ct);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"POST /v1/segments answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)} (check --admin-key)");
            }
            _created.Add(id);
        }
    }

    public async Task DeleteAsync(CancellationToken ct)
    {
        foreach (var id in _created)
        {
            using var request = Request(HttpMethod.Delete, $"/v1/segments/{id}", null);
            using var response = await http.SendAsync(request, ct);
        }
    }

    private HttpRequestMessage Request(HttpMethod method, string path, JsonObject? body)
    {
        var request = new HttpRequestMessage(method, new Uri(gateway, path)) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
        return request;
    }

    private static JsonObject Condition(string field, string op, JsonNode value, string? window = null, string? eventName = null)
    {
        var condition = new JsonObject { ["field"] = field, ["op"] = op, ["value"] = value };
        if (window is not null) condition["window"] = window;
        if (eventName is not null) condition["event"] = eventName;
        return condition;
    }
}
