using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Personalization.Collector.Tests;

/// <summary>
/// WebSocket ingestion (<c>/v1/stream</c>): acks per message only once the broker holds it, error frames that keep the
/// stream open, 1009 for a frame over the limit, and back-pressure: past its window the collector reads no more.
/// </summary>
public sealed class StreamApiTests : IDisposable
{
    private readonly FakeSink _sink = new();
    private readonly WebApplicationFactory<Program> _factory;

    public StreamApiTests()
    {
        _factory = _sink.Collector(("Collector:MaxUnackedPerStream", "3"), ("Collector:MaxBatchBytes", "4096"));
    }

    public void Dispose() => _factory.Dispose();

    private async Task<WebSocket> ConnectAsync() =>
        await _factory.Server.CreateWebSocketClient().ConnectAsync(new Uri(_factory.Server.BaseAddress, "/v1/stream"), CancellationToken.None);

    private static Task SendAsync(WebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

    private static async Task<JsonElement> ReceiveAsync(WebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var result = await socket.ReceiveAsync(buffer, timeout.Token);
        Assert.Equal(WebSocketMessageType.Text, result.MessageType);
        return JsonDocument.Parse(buffer.AsMemory(0, result.Count)).RootElement.Clone();
    }

    private static string Track(string id) => $$"""{"type":"track","userId":"u1","event":"Clicked","messageId":"{{id}}"}""";

    [Fact]
    public async Task EveryMessageOfAFrameIsAcknowledgedOnceTheBrokerHoldsIt()
    {
        using var socket = await ConnectAsync();
        await SendAsync(socket, Track("s-1"));
        await SendAsync(socket, $$"""{"batch":[{{Track("s-2")}},{"type":"identify","userId":"u1","traits":{"plan":"pro"},"messageId":"s-3"}]}""");

        var acks = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var frame = await ReceiveAsync(socket);
            Assert.Equal("ack", frame.GetProperty("type").GetString());
            acks.Add(frame.GetProperty("messageId").GetString()!);
        }
        Assert.Equal(["s-1", "s-2", "s-3"], acks);
        Assert.Equal(["s-1", "s-2", "s-3"], _sink.Published.Select(e => e.MessageId));

        // Sent again after a reconnect, as a client resends what it has no ack for: acknowledged, published once.
        await SendAsync(socket, Track("s-1"));
        Assert.Equal("s-1", (await ReceiveAsync(socket)).GetProperty("messageId").GetString());
        Assert.Equal(3, _sink.Published.Count);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task AMalformedFrameGetsAnErrorFrameNamingTheProblemAndTheStreamStaysOpen()
    {
        using var socket = await ConnectAsync();
        await SendAsync(socket, """{"type":"track","userId":"u1"}""");
        var error = await ReceiveAsync(socket);
        Assert.Equal("error", error.GetProperty("type").GetString());
        Assert.Equal(400, error.GetProperty("status").GetInt32());
        Assert.Equal("urn:personalization:problem:invalid-event", error.GetProperty("problemType").GetString());
        Assert.Equal("event", error.GetProperty("errors")[0].GetProperty("field").GetString());

        await SendAsync(socket, "not json");
        Assert.Equal("urn:personalization:problem:invalid-json", (await ReceiveAsync(socket)).GetProperty("problemType").GetString());
        await SendAsync(socket, """{"type":"purchase","userId":"u1"}""");
        Assert.Equal("type", (await ReceiveAsync(socket)).GetProperty("errors")[0].GetProperty("field").GetString());

        await SendAsync(socket, Track("after-errors"));
        Assert.Equal("after-errors", (await ReceiveAsync(socket)).GetProperty("messageId").GetString());
        Assert.Single(_sink.Published);
    }

    [Fact]
    public async Task AFrameOverTheLimitClosesTheStreamWith1009()
    {
        using var socket = await ConnectAsync();
        await SendAsync(socket, """{"type":"track","userId":"u1","event":"Big","properties":{"x":""" + $"\"{new string('x', 5000)}\"}}}}");
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var result = await socket.ReceiveAsync(buffer, timeout.Token);
        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, result.CloseStatus);
        Assert.Contains("4096", result.CloseStatusDescription);
        Assert.Empty(_sink.Published);
    }

    [Fact]
    public async Task WithItsWindowFullTheCollectorReadsNoMoreUntilAcksFreeRoom()
    {
        _sink.PublishGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var socket = await ConnectAsync();
        for (var i = 1; i <= 3; i++) await SendAsync(socket, Track($"w-{i}"));
        await WaitUntil(() => _sink.PublishCallSizes.Count == 3);

        await SendAsync(socket, Track("w-4"));
        await Task.Delay(300);
        Assert.Equal(3, _sink.PublishCallSizes.Count); // the fourth frame waits unread: three messages are unacknowledged

        _sink.PublishGate.SetResult();
        var acks = new List<string>();
        for (var i = 0; i < 4; i++) acks.Add((await ReceiveAsync(socket)).GetProperty("messageId").GetString()!);
        Assert.Equal(["w-1", "w-2", "w-3", "w-4"], acks);
    }

    [Fact]
    public async Task WhenTheBrokerCannotTakeAFrameItsMessagesComeBackInAnErrorFrameToResend()
    {
        _sink.BrokerDown = true;
        using var socket = await ConnectAsync();
        await SendAsync(socket, $$"""{"batch":[{{Track("b-1")}},{{Track("b-2")}}]}""");
        var error = await ReceiveAsync(socket);
        Assert.Equal(503, error.GetProperty("status").GetInt32());
        Assert.Equal(["b-1", "b-2"], error.GetProperty("messageIds").EnumerateArray().Select(i => i.GetString()));
        Assert.True(error.GetProperty("retryAfter").GetInt32() > 0);

        _sink.BrokerDown = false;
        await SendAsync(socket, $$"""{"batch":[{{Track("b-1")}},{{Track("b-2")}}]}""");
        Assert.Equal("b-1", (await ReceiveAsync(socket)).GetProperty("messageId").GetString());
        Assert.Equal("b-2", (await ReceiveAsync(socket)).GetProperty("messageId").GetString());
    }

    [Fact]
    public async Task APlainGetIsRefusedWithAProblemNamingTheWebSocket()
    {
        using var client = _factory.CreateClient();
        using var response = await client.GetAsync("/v1/stream");
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("urn:personalization:problem:websocket-required", problem.RootElement.GetProperty("type").GetString());
        Assert.Equal("Upgrade", problem.RootElement.GetProperty("errors")[0].GetProperty("field").GetString());
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached within 10 s");
            await Task.Delay(20);
        }
    }
}
