using System.Net;
using Aspire.Hosting.Testing;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Personalization.EndToEndTests;

/// <summary>
/// Tracking plans through the gateway (admin key): a block plan keeps a breaking event out of the profile and in the
/// quarantine with the path and rule it broke, a warn plan lets it through and quarantines a copy, a replayed event
/// counts once, an erasure reaches the quarantine, and bad plans and unknown ids get problem+json.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class TrackingPlanTests(PlatformFixture platform)
{
    /// <summary>Collectors re-read the plans at most every 2 s: past this, a change is in force everywhere.</summary>
    private static readonly TimeSpan PlanRefresh = TimeSpan.FromSeconds(3);

    private static JsonObject OrderSchema() => new()
    {
        ["type"] = "object",
        ["required"] = new JsonArray("total"),
        ["properties"] = new JsonObject { ["total"] = new JsonObject { ["type"] = "number", ["minimum"] = 0 } },
    };

    private static object PlanBody(string name, string mode, JsonObject schema) => new JsonObject
    {
        ["type"] = "track", ["event"] = name, ["mode"] = mode, ["schema"] = schema,
    };

    private static string NewPlanId() => "plan-" + Guid.NewGuid().ToString("N")[..12];

    private static string NewEventName(string label) => $"{label} {Guid.NewGuid():N}";

    /// <summary>Waits until the quarantine holds the event of <paramref name="messageId"/>; answers it as listed.</summary>
    private static async Task<JsonObject> WaitForQuarantinedAsync(GatewayClient gateway, string eventName, string messageId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var page = await gateway.AdminAsync(HttpMethod.Get, $"/v1/admin/quarantine?event={Uri.EscapeDataString(eventName)}", HttpStatusCode.OK);
            if (page["events"]!.AsArray().FirstOrDefault(e => e!["messageId"]!.GetValue<string>() == messageId) is { } kept) return kept.AsObject();
            await Task.Delay(500);
        }
        Assert.Fail($"event {messageId} was never quarantined");
        return null!;
    }

    /// <summary>Sends a marker through the whole pipeline and gives stragglers a moment: what was coming has arrived.</summary>
    private static async Task SettleAsync(GatewayClient gateway)
    {
        var marker = Events.NewUser("marker");
        await gateway.SendAcceptedAsync(Events.Track(marker, "Marker"));
        await gateway.WaitForProfileAsync(marker, p => p.Count("Marker") == 1);
        await Task.Delay(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task ABlockPlanKeepsABreakingEventOutOfTheProfileAndInTheQuarantineAndAReplayAfterTheFixCountsItOnce()
    {
        using var gateway = new GatewayClient(platform.App);
        var name = NewEventName("Order Completed");
        var planId = NewPlanId();
        var created = await gateway.AdminAsync(HttpMethod.Put, $"/v1/admin/tracking-plans/{planId}", HttpStatusCode.Created, PlanBody(name, "block", OrderSchema()));
        Assert.Equal(1, created["version"]!.GetValue<int>());
        await Task.Delay(PlanRefresh);

        var user = Events.NewUser("planned");
        var conforming = Events.Track(user, name, properties: new JsonObject { ["total"] = 12.5 });
        var breaking = Events.Track(user, name, properties: new JsonObject { ["total"] = "12.50" });
        var breakingId = breaking["messageId"]!.GetValue<string>();
        await gateway.SendAcceptedAsync(conforming, breaking);

        var kept = await WaitForQuarantinedAsync(gateway, name, breakingId);
        Assert.Equal(("block", planId, 1), (kept["mode"]!.GetValue<string>(), kept["planId"]!.GetValue<string>(), kept["planVersion"]!.GetValue<int>()));
        var violation = Assert.Single(kept["violations"]!.AsArray())!;
        Assert.Equal(("/properties/total", "type"), (violation["path"]!.GetValue<string>(), violation["rule"]!.GetValue<string>()));
        Assert.Contains(user, kept["profileIds"]!.AsArray().Select(i => i!.GetValue<string>()));
        await gateway.WaitForProfileAsync(user, p => p.Count(name) == 1);
        await SettleAsync(gateway);
        Assert.Equal(1, (await gateway.GetProfileAsync(user))!.Count(name));

        var inspected = await gateway.AdminAsync(HttpMethod.Get, $"/v1/admin/quarantine/{kept["id"]}", HttpStatusCode.OK);
        Assert.Equal("12.50", inspected["data"]!["properties"]!["total"]!.GetValue<string>());

        // The plan is fixed to take totals as text too; the held-back event is replayed, twice over.
        var fixedSchema = OrderSchema();
        fixedSchema["properties"]!["total"]!["type"] = new JsonArray("number", "string");
        var changed = await gateway.AdminAsync(HttpMethod.Put, $"/v1/admin/tracking-plans/{planId}", HttpStatusCode.OK, PlanBody(name, "block", fixedSchema));
        Assert.Equal(2, changed["version"]!.GetValue<int>());
        var replayed = await gateway.AdminAsync(HttpMethod.Post, $"/v1/admin/quarantine/{kept["id"]}/replay", HttpStatusCode.OK);
        Assert.Equal(1, replayed["replayed"]!.GetValue<int>());
        await gateway.AdminAsync(HttpMethod.Post, $"/v1/admin/quarantine/{kept["id"]}/replay", HttpStatusCode.NotFound);
        await gateway.WaitForProfileAsync(user, p => p.Count(name) == 2);
        await SettleAsync(gateway);
        Assert.Equal(2, (await gateway.GetProfileAsync(user))!.Count(name));

        // Counted per event name and mode, on the collector's metrics.
        using var collector = platform.App.CreateHttpClient("collector", "http");
        var metrics = await collector.GetStringAsync("/metrics");
        Assert.Contains(metrics.Split('\n'), line => line.StartsWith("collector_tracking_plan_violations_total{", StringComparison.Ordinal)
            && line.Contains($"event_name=\"{name}\"", StringComparison.Ordinal) && line.Contains("mode=\"block\"", StringComparison.Ordinal));

        using var deleted = await gateway.SendAsync(GatewayClient.Request(HttpMethod.Delete, $"/v1/admin/tracking-plans/{planId}", GatewayClient.AdminKey));
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }

    [Fact]
    public async Task AWarnPlanLetsABreakingEventThroughAndQuarantinesACopyWhoseReplayDoesNotCountTwice()
    {
        using var gateway = new GatewayClient(platform.App);
        var name = NewEventName("Cart Viewed");
        var planId = NewPlanId();
        await gateway.AdminAsync(HttpMethod.Put, $"/v1/admin/tracking-plans/{planId}", HttpStatusCode.Created, PlanBody(name, "warn", OrderSchema()));
        await Task.Delay(PlanRefresh);

        var user = Events.NewUser("warned");
        var breaking = Events.Track(user, name, properties: new JsonObject { ["items"] = 3 });
        await gateway.SendAcceptedAsync(breaking);

        await gateway.WaitForProfileAsync(user, p => p.Count(name) == 1);
        var kept = await WaitForQuarantinedAsync(gateway, name, breaking["messageId"]!.GetValue<string>());
        Assert.Equal("warn", kept["mode"]!.GetValue<string>());
        Assert.Equal(("/properties", "required"), (kept["violations"]![0]!["path"]!.GetValue<string>(), kept["violations"]![0]!["rule"]!.GetValue<string>()));

        var replayed = await gateway.AdminAsync(HttpMethod.Post, $"/v1/admin/quarantine/replay?event={Uri.EscapeDataString(name)}", HttpStatusCode.OK);
        Assert.Equal(1, replayed["replayed"]!.GetValue<int>());
        await SettleAsync(gateway);
        Assert.Equal(1, (await gateway.GetProfileAsync(user))!.Count(name));
    }

    [Fact]
    public async Task AnExportShowsAndAnErasureRemovesTheUsersQuarantinedEvents()
    {
        using var gateway = new GatewayClient(platform.App);
        var name = NewEventName("Signed Up");
        await gateway.AdminAsync(HttpMethod.Put, $"/v1/admin/tracking-plans/{NewPlanId()}", HttpStatusCode.Created, PlanBody(name, "block", OrderSchema()));
        await Task.Delay(PlanRefresh);
        var user = Events.NewUser("erased-quarantine");
        var breaking = Events.Track(user, name);
        await gateway.SendAcceptedAsync(breaking);
        var kept = await WaitForQuarantinedAsync(gateway, name, breaking["messageId"]!.GetValue<string>());
        var export = await gateway.AdminAsync(HttpMethod.Get, $"/v1/profiles/{user}/export", HttpStatusCode.OK);
        Assert.Equal(breaking["messageId"]!.GetValue<string>(), Assert.Single(export["quarantinedEvents"]!.AsArray())!["data"]!["messageId"]!.GetValue<string>());

        var status = await PrivacyTests.EraseAsync(gateway, user);

        Assert.Equal(1, PrivacyTests.Removed(status, "postgresql", "quarantinedEvents"));
        await gateway.AdminAsync(HttpMethod.Get, $"/v1/admin/quarantine/{kept["id"]}", HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task BadPlansUnknownIdsAndMissingKeysGetProblemJson()
    {
        using var gateway = new GatewayClient(platform.App);
        var planId = NewPlanId();
        var name = NewEventName("Checked");

        var invalid = await ExpectProblemAsync(gateway, HttpMethod.Put, $"/v1/admin/tracking-plans/{planId}", HttpStatusCode.BadRequest,
            """{"type":"track","event":"Checked","mode":"block","schema":{"type":"numbr"}}""");
        Assert.Equal("schema", invalid["field"]!.GetValue<string>());
        Assert.Contains("'numbr' is not a valid JSON Schema value type", invalid["detail"]!.GetValue<string>());
        var foreign = await ExpectProblemAsync(gateway, HttpMethod.Put, $"/v1/admin/tracking-plans/{planId}", HttpStatusCode.BadRequest,
            """{"type":"track","event":"Checked","mode":"block","schema":{"$ref":"https://example.com/s.json"}}""");
        Assert.Equal("schema/$ref", foreign["field"]!.GetValue<string>());
        var mode = await ExpectProblemAsync(gateway, HttpMethod.Put, $"/v1/admin/tracking-plans/{planId}", HttpStatusCode.BadRequest,
            """{"type":"track","event":"Checked","mode":"strict","schema":{}}""");
        Assert.Equal("mode", mode["field"]!.GetValue<string>());
        await ExpectProblemAsync(gateway, HttpMethod.Put, "/v1/admin/tracking-plans/Not%20An%20Id", HttpStatusCode.BadRequest, "{}");
        await gateway.AdminAsync(HttpMethod.Get, $"/v1/admin/tracking-plans/{planId}", HttpStatusCode.NotFound);

        await gateway.AdminAsync(HttpMethod.Put, $"/v1/admin/tracking-plans/{planId}", HttpStatusCode.Created, PlanBody(name, "allow", OrderSchema()));
        var conflict = await ExpectProblemAsync(gateway, HttpMethod.Put, $"/v1/admin/tracking-plans/{NewPlanId()}", HttpStatusCode.Conflict,
            PlanBody(name, "warn", OrderSchema()).ToString()!);
        Assert.Contains(planId, conflict["detail"]!.GetValue<string>());
        var list = await gateway.AdminAsync(HttpMethod.Get, "/v1/admin/tracking-plans", HttpStatusCode.OK);
        Assert.Contains(list["plans"]!.AsArray(), p => p!["id"]!.GetValue<string>() == planId);
        using (var deleted = await gateway.SendAsync(GatewayClient.Request(HttpMethod.Delete, $"/v1/admin/tracking-plans/{planId}", GatewayClient.AdminKey)))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }
        await gateway.AdminAsync(HttpMethod.Delete, $"/v1/admin/tracking-plans/{planId}", HttpStatusCode.NotFound);

        var unknown = await ExpectProblemAsync(gateway, HttpMethod.Get, "/v1/admin/quarantine/999999999", HttpStatusCode.NotFound, null);
        Assert.Equal("urn:personalization:problem:quarantined-event-not-found", unknown["type"]!.GetValue<string>());
        await ExpectProblemAsync(gateway, HttpMethod.Post, "/v1/admin/quarantine/999999999/replay", HttpStatusCode.NotFound, null);
        var limit = await ExpectProblemAsync(gateway, HttpMethod.Get, "/v1/admin/quarantine?limit=0", HttpStatusCode.BadRequest, null);
        Assert.Equal("limit", limit["field"]!.GetValue<string>());

        foreach (var path in new[] { "/v1/admin/tracking-plans", "/v1/admin/quarantine" })
        {
            using var anonymous = await gateway.SendAsync(new HttpRequestMessage(HttpMethod.Get, path));
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            using var read = await gateway.SendAsync(GatewayClient.Request(HttpMethod.Get, path, GatewayClient.ReadKey));
            Assert.Equal(HttpStatusCode.Forbidden, read.StatusCode);
            using var write = await gateway.SendAsync(GatewayClient.Request(HttpMethod.Get, path, GatewayClient.WriteKey));
            Assert.Equal(HttpStatusCode.Forbidden, write.StatusCode);
        }
    }

    private static async Task<JsonObject> ExpectProblemAsync(GatewayClient gateway, HttpMethod method, string path, HttpStatusCode expected, string? body)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GatewayClient.AdminKey);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await gateway.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{method} {path} answered {(int)response.StatusCode}, not {(int)expected}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(text)!.AsObject();
    }
}
