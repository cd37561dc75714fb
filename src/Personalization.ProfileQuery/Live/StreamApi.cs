using Personalization.Contracts;
using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using Personalization.ProfileQuery.Apis;
using Personalization.ProfileQuery.Decisions;
using Personalization.Streaming;

namespace Personalization.ProfileQuery.Live;

/// <summary>
/// <c>GET /v1/profiles/{userId}/stream</c>: the user's profile, flags, segment changes and decisions
/// (<c>?placements=</c>) live, as server-sent events, or as WebSocket text messages
/// (<c>{"type","id","data"}</c>) when the request is a WebSocket upgrade. The first messages are the current state;
/// then only changes. <c>Last-Event-ID</c> (or <c>?lastEventId=</c>) resumes: the profile is sent again only when it
/// is newer than that version. A heartbeat every <c>Streams:HeartbeatInterval</c> (15 s) of quiet; a reader a whole
/// outbox (<c>Streams:Buffer</c>, 64 messages) behind is dropped; past <c>Streams:MaxStreams</c> open streams, 503.
/// </summary>
public static class StreamApi
{
    public static IEndpointRouteBuilder MapStreamApiV1(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/profiles/{userId}/stream", StreamAsync).WithTags("Profiles")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream");
        return app;
    }

    public static async Task<IResult> StreamAsync(string userId, string? fields, string? placements, long? lastEventId, HttpContext http,
        ProfileStreams streams, PlacementStore store, CancellationToken ct)
    {
        if (UserIds.Problem(userId) is { } problem) return Problems.Invalid(new FieldError("userId", problem));
        if (ProfileApi.ForOtherUser(http, userId) is { } forbidden) return forbidden;
        if (ProfileFields.Parse(fields, out var fieldError) is not { } selection) return Problems.Invalid(fieldError!);
        var wanted = (placements ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (wanted.Length > DecisionApi.MaxPlacementsPerDecision)
        {
            return Problems.Invalid(new FieldError("placements", $"at most {DecisionApi.MaxPlacementsPerDecision} placements"));
        }
        var catalog = await store.CurrentAsync(ct);
        if (wanted.Where(p => !catalog.ContainsKey(p)).ToList() is { Count: > 0 } unknown)
        {
            return Problems.Invalid(new FieldError("placements", $"no placement '{string.Join("', '", unknown)}'"));
        }
        if (long.TryParse(http.Request.Headers["Last-Event-ID"].ToString(), out var header)) lastEventId = header;

        var subscriber = new StreamSubscriber(userId, selection, wanted, streams.Buffer, lastEventId);
        if (!await streams.OpenAsync(subscriber, ct))
        {
            http.Response.Headers.RetryAfter = "5";
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Too many streams",
                detail: $"this server holds {streams.MaxStreams} streams, its limit; retry later");
        }
        if (http.WebSockets.IsWebSocketRequest)
        {
            try
            {
                using var socket = await http.WebSockets.AcceptWebSocketAsync();
                await PumpAsync(socket, subscriber, streams.HeartbeatInterval, ct);
            }
            finally
            {
                streams.Close(subscriber);
            }
            return TypedResults.Empty;
        }
        // A dropped reader's connection is closed at once: a write it is too slow to take may be what it is stuck on.
        subscriber.Dropped.Register(http.Abort);
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        return TypedResults.ServerSentEvents(Events(subscriber, streams, ct));
    }

    private static async IAsyncEnumerable<SseItem<string>> Events(StreamSubscriber subscriber, ProfileStreams streams,
        [EnumeratorCancellation] CancellationToken ct)
    {
        try
        {
            await foreach (var message in Messages(subscriber, streams.HeartbeatInterval, ct))
            {
                yield return new SseItem<string>(message.Data, message.Type) { EventId = message.Id?.ToString() };
            }
        }
        finally
        {
            streams.Close(subscriber);
        }
    }

    /// <summary>The stream's messages, with a heartbeat after each quiet interval; ends when the client goes, the stream is dropped or completed.</summary>
    private static async IAsyncEnumerable<StreamMessage> Messages(StreamSubscriber subscriber, TimeSpan heartbeat,
        [EnumeratorCancellation] CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, subscriber.Dropped);
        while (!stop.IsCancellationRequested)
        {
            bool more;
            using (var quiet = CancellationTokenSource.CreateLinkedTokenSource(stop.Token))
            {
                quiet.CancelAfter(heartbeat);
                try
                {
                    more = await subscriber.Outbox.WaitToReadAsync(quiet.Token);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    more = true;
                }
                catch (OperationCanceledException)
                {
                    yield break;
                }
            }
            if (!more) yield break;
            var any = false;
            while (subscriber.Outbox.TryRead(out var message))
            {
                any = true;
                yield return message;
            }
            if (!any) yield return ProfileStreams.Heartbeat(DateTimeOffset.UtcNow);
        }
    }

    private static async Task PumpAsync(WebSocket socket, StreamSubscriber subscriber, TimeSpan heartbeat, CancellationToken ct)
    {
        using var closed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var dropped = subscriber.Dropped.Register(socket.Abort);
        // The client sends nothing but its close: reading is only to notice it.
        var receiving = Task.Run(async () =>
        {
            var buffer = new byte[1024];
            try
            {
                while (socket.State == WebSocketState.Open)
                {
                    var received = await socket.ReceiveAsync(buffer, closed.Token);
                    if (received.MessageType == WebSocketMessageType.Close) break;
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
            await closed.CancelAsync();
        }, CancellationToken.None);
        try
        {
            await foreach (var message in Messages(subscriber, heartbeat, closed.Token))
            {
                var frame = $"{{\"type\":\"{message.Type}\",\"id\":{(message.Id is { } id ? id.ToString() : "null")},\"data\":{message.Data}}}";
                await socket.SendAsync(Encoding.UTF8.GetBytes(frame), WebSocketMessageType.Text, endOfMessage: true, closed.Token);
            }
            // The client's close is answered, and a stream the server ends (withheld) is closed; a dropped one was aborted.
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "stream ended", CancellationToken.None);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // The client went away.
        }
        await closed.CancelAsync();
        await receiving;
    }
}
