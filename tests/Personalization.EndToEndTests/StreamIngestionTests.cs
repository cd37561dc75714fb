using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Aspire.Hosting.Testing;

namespace Personalization.EndToEndTests;

/// <summary>WebSocket ingestion through the gateway (<c>/v1/stream</c>): acks once the broker holds a message, exact counts when a client resends after reconnecting.</summary>
[Collection(PlatformCollection.Name)]
public sealed class StreamIngestionTests(PlatformFixture platform)
{
    private async Task<ClientWebSocket> ConnectAsync(string? key)
    {
        var endpoint = platform.App.GetEndpoint("gateway", "http");
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{endpoint.Authority}/v1/stream" + (key is null ? "" : $"?access_token={key}")), CancellationToken.None);
        return socket;
    }

    private static async Task<List<string>> SendAndAckAsync(ClientWebSocket socket, IReadOnlyList<JsonObject> frames, int expectedAcks)
    {
        foreach (var frame in frames)
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(frame.ToJsonString()), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }
        var acks = new List<string>();
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (acks.Count < expectedAcks)
        {
            var received = await socket.ReceiveAsync(buffer, timeout.Token);
            var message = JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, received.Count))!.AsObject();
            Assert.True(message["type"]!.GetValue<string>() == "ack", $"expected an ack, got {message.ToJsonString()}");
            acks.Add(message["messageId"]!.GetValue<string>());
        }
        return acks;
    }

    [Fact]
    public async Task MessagesStreamedThroughTheGatewayAreAcknowledgedAndCountedOnceEvenWhenResentAfterAReconnect()
    {
        var user = Events.NewUser("streamed");
        var events = Enumerable.Range(1, 5).Select(i => Events.Track(user, "Streamed")).ToList();
        JsonObject[] frames = [events[0], new JsonObject { ["batch"] = new JsonArray([.. events.Skip(1).Select(e => (JsonNode)e.DeepClone())]) }];
        var ids = events.Select(e => e["messageId"]!.GetValue<string>()).ToList();

        using (var socket = await ConnectAsync(GatewayClient.WriteKey))
        {
            Assert.Equal(ids, await SendAndAckAsync(socket, frames, ids.Count));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }
        // A client that lost its acks resends everything on a new connection: acknowledged again, counted once.
        using (var again = await ConnectAsync(GatewayClient.WriteKey))
        {
            Assert.Equal(ids, await SendAndAckAsync(again, frames, ids.Count));
            await again.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }

        using var gateway = new GatewayClient(platform.App);
        var profile = await gateway.WaitForProfileAsync(user, p => p["totalEvents"]?.GetValue<long>() >= 5);
        await Task.Delay(TimeSpan.FromSeconds(2));
        profile = await gateway.GetProfileAsync(user);
        Assert.Equal(5, profile!["totalEvents"]!.GetValue<long>());
    }

    [Fact]
    public async Task AStreamNeedsAWriteKey()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await RefusedWithAsync(null));
        Assert.Equal(HttpStatusCode.Forbidden, await RefusedWithAsync(GatewayClient.ReadKey));
    }

    private async Task<HttpStatusCode> RefusedWithAsync(string? key)
    {
        var endpoint = platform.App.GetEndpoint("gateway", "http");
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() =>
            socket.ConnectAsync(new Uri($"ws://{endpoint.Authority}/v1/stream" + (key is null ? "" : $"?access_token={key}")), CancellationToken.None));
        return socket.HttpStatusCode;
    }
}
