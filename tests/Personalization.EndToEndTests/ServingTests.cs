using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Aspire.Hosting.Testing;

namespace Personalization.EndToEndTests;

/// <summary>
/// Serving through the gateway as a site does: field selection, ETags, batch reads, segment members, placements and
/// decisions, and the live stream of a user's changes (server-sent events and WebSocket) opened with a user token.
/// </summary>
[Collection(PlatformCollection.Name)]
public sealed class ServingTests(PlatformFixture platform)
{
    private static readonly TimeSpan StreamWait = TimeSpan.FromSeconds(30);

    private static object BoughtRule(string eventName) => new { field = "events", @event = eventName, op = ">=", value = 1 };

    private static async Task<string> MintAsync(GatewayClient gateway, string userId) =>
        (await gateway.AdminAsync(HttpMethod.Post, "/v1/tokens", HttpStatusCode.Created, new { userId, ttlSeconds = 300 }))["token"]!.GetValue<string>();

    [Fact]
    public async Task FieldsETagsAndBatchReadsAnswerWhatWasAskedFor()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("fields");
        await gateway.SendAcceptedAsync(Events.Identify(user, new JsonObject { ["plan"] = "pro" }), Events.Track(user, "Clicked"));
        await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") == 2);

        var selected = await gateway.SendExpectingAsync(Read($"/v1/profiles/{user}?fields=traits,flags"), HttpStatusCode.OK);
        Assert.Equal(new[] { "flags", "profileId", "traits", "version" }, selected.Select(p => p.Key).Order());
        Assert.Equal("pro", selected["traits"]!["plan"]!.GetValue<string>());

        var unknown = await gateway.SendExpectingAsync(Read($"/v1/profiles/{user}?fields=traits,shoeSize"), HttpStatusCode.BadRequest);
        Assert.Equal("fields", unknown["field"]!.GetValue<string>());
        Assert.Contains("'shoeSize'", unknown["detail"]!.GetValue<string>());

        using var first = await gateway.SendAsync(Read($"/v1/profiles/{user}"));
        var etag = first.Headers.ETag!;
        using var again = Read($"/v1/profiles/{user}");
        again.Headers.IfNoneMatch.Add(etag);
        Assert.Equal(HttpStatusCode.NotModified, (await gateway.SendAsync(again)).StatusCode);
        await gateway.SendAcceptedAsync(Events.Track(user, "Clicked"));
        await gateway.WaitForProfileAsync(user, p => p.Long("totalEvents") == 3);
        using var changed = Read($"/v1/profiles/{user}");
        changed.Headers.IfNoneMatch.Add(etag);
        using var changedResponse = await gateway.SendAsync(changed);
        Assert.Equal(HttpStatusCode.OK, changedResponse.StatusCode);
        Assert.NotEqual(etag, changedResponse.Headers.ETag);

        var batch = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Post, "/v1/profiles:batch", GatewayClient.ReadKey,
            new { ids = new[] { user, "nobody-" + user }, fields = "eventCounts" }), HttpStatusCode.OK);
        var entries = batch["profiles"]!.AsArray();
        Assert.Equal("found", entries[0]!["status"]!.GetValue<string>());
        Assert.Equal(2, entries[0]!["profile"]!["eventCounts"]!["Clicked"]!.GetValue<long>());
        Assert.Null(entries[0]!["profile"]!["traits"]);
        Assert.Equal("not_found", entries[1]!["status"]!.GetValue<string>());

        var tooMany = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Post, "/v1/profiles:batch", GatewayClient.ReadKey,
            new { ids = Enumerable.Range(0, 101).Select(i => $"u{i}").ToArray() }), HttpStatusCode.BadRequest);
        Assert.Equal("ids", tooMany["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task SegmentMembersArePagedWithACursor()
    {
        using var gateway = new GatewayClient(platform.App);
        var eventName = "Joined " + Guid.NewGuid().ToString("N");
        var segment = "members-" + Guid.NewGuid().ToString("N")[..12];
        await gateway.AdminAsync(HttpMethod.Post, "/v1/segments", HttpStatusCode.Created, new { id = segment, name = "Joined", rule = BoughtRule(eventName) });
        await Task.Delay(TimeSpan.FromSeconds(5)); // every replica's catalog holds the segment (refreshed every 2 s)
        var users = Enumerable.Range(0, 3).Select(i => Events.NewUser($"member{i}")).Order(StringComparer.Ordinal).ToList();
        await gateway.SendAcceptedAsync([.. users.Select(u => Events.Track(u, eventName)), Events.Track(Events.NewUser("outsider"), "Clicked")]);
        foreach (var user in users) await gateway.WaitForProfileAsync(user, p => p["segments"]?[segment] is not null);

        var members = new List<string>();
        string? cursor = null;
        var pages = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        do
        {
            var page = await gateway.AdminAsync(HttpMethod.Get, $"/v1/segments/{segment}/members?limit=2" + (cursor is null ? "" : $"&cursor={cursor}"), HttpStatusCode.OK);
            members.AddRange(page["members"]!.AsArray().Select(m => m!.GetValue<string>()));
            cursor = page["nextCursor"]?.GetValue<string>();
            pages++;
            if (cursor is null && members.Count < users.Count && DateTime.UtcNow < deadline)
            {
                (members, pages) = ([], 0); // the directory follows the profile writes: read again
                await Task.Delay(500);
            }
        }
        while (cursor is not null);

        Assert.Equal(users, members);
        Assert.Equal(2, pages);
        var missing = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Get, "/v1/segments/no-such-segment/members", GatewayClient.AdminKey), HttpStatusCode.NotFound);
        Assert.Contains("no-such-segment", missing["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task DecideChoosesTheFirstVariantWhoseRuleHoldsWithTheReason()
    {
        using var gateway = new GatewayClient(platform.App);
        var (segment, placement, eventName) = await CreatePlacementAsync(gateway);
        var member = Events.NewUser("decided");
        await gateway.SendAcceptedAsync(Events.Track(member, eventName));
        await gateway.WaitForProfileAsync(member, p => p["segments"]?[segment] is not null);

        var chosen = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Post, "/v1/decide", GatewayClient.ReadKey,
            new { userId = member, placements = new[] { placement } }), HttpStatusCode.OK);
        var decision = chosen["decisions"]![0]!;
        Assert.Equal("loyal", decision["variant"]!.GetValue<string>());
        Assert.Equal("Thanks for coming back", decision["content"]!["title"]!.GetValue<string>());
        Assert.Contains($"segment '{segment}'", decision["reason"]!.GetValue<string>());

        var stranger = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Post, "/v1/decide", GatewayClient.ReadKey,
            new { userId = Events.NewUser("stranger"), placements = new[] { placement } }), HttpStatusCode.OK);
        Assert.Equal("welcome", stranger["decisions"]![0]!["variant"]!.GetValue<string>());
        Assert.StartsWith("fallback", stranger["decisions"]![0]!["reason"]!.GetValue<string>());

        var badRule = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Put, "/v1/placements/broken", GatewayClient.AdminKey,
            new { variants = new object[] { new { id = "x", when = new { segmentt = "a" }, content = new { } } } }), HttpStatusCode.BadRequest);
        Assert.Equal("variants[0].when", badRule["field"]!.GetValue<string>());

        var unknownPlacement = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Post, "/v1/decide", GatewayClient.ReadKey,
            new { userId = member, placements = new[] { "no-such-placement" } }), HttpStatusCode.BadRequest);
        Assert.Equal("placements", unknownPlacement["field"]!.GetValue<string>());

        // A user token decides for its own user only.
        using var forOther = GatewayClient.Request(HttpMethod.Post, "/v1/decide", await MintAsync(gateway, member), new { userId = "someone-else", placements = new[] { placement } });
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.SendAsync(forOther)).StatusCode);
    }

    [Fact]
    public async Task AServerSentEventStreamPushesTheProfileAndTheDecisionAsTheyChange()
    {
        using var gateway = new GatewayClient(platform.App);
        var (segment, placement, eventName) = await CreatePlacementAsync(gateway);
        var user = Events.NewUser("sse");
        var token = await MintAsync(gateway, user);
        using var http = platform.App.CreateHttpClient("gateway", "http");
        http.Timeout = Timeout.InfiniteTimeSpan;
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/profiles/{user}/stream?placements={placement}&fields=eventCounts,segments");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(StreamWait);

        // No profile yet: the current decision is the fallback.
        var welcome = await NextAsync(reader, "decision", d => true, timeout.Token);
        Assert.Equal("welcome", welcome.Data["variant"]!.GetValue<string>());

        await gateway.SendAcceptedAsync(Events.Track(user, eventName));
        var profile = await NextAsync(reader, "profile", d => d["eventCounts"]?[eventName] is not null, timeout.Token);
        Assert.NotNull(profile.Id);
        var loyal = await NextAsync(reader, "decision", d => d["variant"]?.GetValue<string>() == "loyal", timeout.Token);
        Assert.Contains(segment, loyal.Data["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task AWebSocketStreamPushesChangesAndStreamsRefuseOtherUsersAndBadTokens()
    {
        using var gateway = new GatewayClient(platform.App);
        var user = Events.NewUser("ws");
        var token = await MintAsync(gateway, user);

        using var other = new HttpRequestMessage(HttpMethod.Get, $"/v1/profiles/{user}-other/stream?access_token={token}");
        Assert.Equal(HttpStatusCode.Forbidden, (await gateway.SendAsync(other)).StatusCode);
        using var forged = new HttpRequestMessage(HttpMethod.Get, $"/v1/profiles/{user}/stream?access_token={token[..^3]}abc");
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.SendAsync(forged)).StatusCode);

        var endpoint = platform.App.GetEndpoint("gateway", "http");
        using var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(StreamWait);
        await socket.ConnectAsync(new Uri($"ws://{endpoint.Authority}/v1/profiles/{user}/stream?access_token={token}"), timeout.Token);
        await gateway.SendAcceptedAsync(Events.Track(user, "Clicked"), Events.Track(user, "Clicked"));

        var buffer = new byte[64 * 1024];
        JsonObject? profile = null;
        while (profile is null)
        {
            var received = await socket.ReceiveAsync(buffer, timeout.Token);
            Assert.Equal(WebSocketMessageType.Text, received.MessageType);
            var message = JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, received.Count))!.AsObject();
            if (message["type"]!.GetValue<string>() == "profile" && message["data"]!["totalEvents"]!.GetValue<long>() == 2) profile = message;
        }
        Assert.Equal(profile["id"]!.GetValue<long>(), profile["data"]!["version"]!.GetValue<long>());
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
    }

    /// <summary>A segment of users who sent a fresh event name, and a placement showing them a loyalty banner, anyone else a welcome.</summary>
    private static async Task<(string Segment, string Placement, string EventName)> CreatePlacementAsync(GatewayClient gateway)
    {
        var eventName = "Bought " + Guid.NewGuid().ToString("N");
        var segment = "loyal-" + Guid.NewGuid().ToString("N")[..12];
        var placement = "banner-" + Guid.NewGuid().ToString("N")[..12];
        await gateway.AdminAsync(HttpMethod.Post, "/v1/segments", HttpStatusCode.Created, new { id = segment, name = "Loyal", rule = BoughtRule(eventName) });
        await gateway.AdminAsync(HttpMethod.Put, $"/v1/placements/{placement}", HttpStatusCode.Created, new
        {
            name = "Home banner",
            variants = new object[] { new { id = "loyal", when = new { segment }, content = new { title = "Thanks for coming back" } } },
            fallback = new { id = "welcome", content = new { title = "Welcome" } },
        });
        await Task.Delay(TimeSpan.FromSeconds(5)); // every replica's catalog holds the segment, and profile-query the placement (refreshed every 2 s)
        return (segment, placement, eventName);
    }

    private static HttpRequestMessage Read(string path) => GatewayClient.Request(HttpMethod.Get, path, GatewayClient.ReadKey);

    /// <summary>Reads server-sent events until one of <paramref name="type"/> whose data satisfies <paramref name="match"/>.</summary>
    private static async Task<(string? Id, JsonObject Data)> NextAsync(StreamReader reader, string type, Func<JsonObject, bool> match, CancellationToken ct)
    {
        string? eventType = null, id = null;
        var data = new StringBuilder();
        var seen = new List<string>();
        try
        {
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (line.Length == 0)
                {
                    if (eventType == type && JsonNode.Parse(data.ToString()) is JsonObject json && match(json)) return (id, json);
                    seen.Add($"{eventType}: {data}");
                    (eventType, id) = (null, null);
                    data.Clear();
                }
                else if (line.StartsWith("event: ", StringComparison.Ordinal)) eventType = line[7..];
                else if (line.StartsWith("id: ", StringComparison.Ordinal)) id = line[4..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Append(line[6..]);
            }
        }
        catch (OperationCanceledException)
        {
        }
        Assert.Fail($"no '{type}' event as expected on the stream; seen: {string.Join(" | ", seen)}");
        return default;
    }
}
