using System.Buffers;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using System.Threading.Channels;
using Personalization.Collector.Model;

namespace Personalization.Collector.Apis;

/// <summary>
/// <c>GET /v1/stream</c> as a WebSocket: Segment-shaped messages sent as text frames, one message (an object with
/// <c>type</c>) or many (<c>{"batch":[…]}</c>) per frame, each frame read and checked as the HTTP API reads a request.
/// Every message of a frame is acknowledged with its own <c>ack</c> frame once the broker holds it; a frame the
/// collector refuses gets one <c>error</c> frame (status, problem type, detail, the fields) and the connection stays
/// open; a frame over <see cref="CollectorOptions.MaxBatchBytes"/> closes it with 1009. At most
/// <see cref="CollectorOptions.MaxUnackedPerStream"/> messages wait for their acks: past that the server stops reading
/// the socket (back-pressure through TCP), and a client that resends what was not acknowledged after a reconnect
/// gets it counted once (messageIds are de-duplicated as on the HTTP API).
/// </summary>
public static class StreamApi
{
    public const string Path = "/v1/stream";
    public const string EndpointType = "stream";

    public static IEndpointRouteBuilder MapStreamApiV1(this IEndpointRouteBuilder app)
    {
        app.MapGet(Path, HandleAsync).WithTags("Tracking").WithName("stream").ExcludeFromDescription();
        return app;
    }

    /// <summary>The streams open on this collector.</summary>
    public sealed class OpenStreams
    {
        private int _count;

        public bool TryOpen(int max)
        {
            if (Interlocked.Increment(ref _count) <= max) return true;
            Interlocked.Decrement(ref _count);
            return false;
        }

        public void Close() => Interlocked.Decrement(ref _count);
    }

    public static async Task HandleAsync(HttpContext context, TrackingServices services, OpenStreams open, CancellationToken ct)
    {
        var options = services.Options.Value;
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Not a WebSocket request",
                type: "urn:personalization:problem:websocket-required",
                detail: $"{Path} takes a WebSocket connection (Upgrade: websocket); send single events to POST /v1/batch instead.",
                extensions: new Dictionary<string, object?> { ["errors"] = new[] { new FieldError("Upgrade", "must be websocket, with Connection: Upgrade") } })
                .ExecuteAsync(context);
            return;
        }
        if (!open.TryOpen(options.MaxStreams))
        {
            services.Metrics.Rejected(EndpointType, "overloaded");
            context.Response.Headers.RetryAfter = options.OverloadRetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "The collector is at its limits",
                type: "urn:personalization:problem:overloaded",
                detail: $"{options.MaxStreams} streams are open (Collector:MaxStreams); retry after {options.OverloadRetryAfterSeconds} s.").ExecuteAsync(context);
            return;
        }
        services.Metrics.StreamOpened();
        try
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            await new Connection(socket, services, TrackingApi.InfoOf(context, services.Time)).RunAsync(ct);
        }
        finally
        {
            open.Close();
            services.Metrics.StreamClosed();
        }
    }

    /// <summary>A frame read and on its way: its ingestion (null when it was refused as read), the ids it carries, when it came.</summary>
    private sealed record InFlight(Task<IngestionOutcome>? Ingestion, IReadOnlyList<string> MessageIds, RequestProblem? Refused, long ReceivedAt);

    private sealed class Connection(WebSocket socket, TrackingServices services, Func<RequestInfo> info)
    {
        /// <summary>Frames of one stream being ingested at once, at most: a stream's share of the sidecar stays small.</summary>
        private const int MaxFramesInFlight = 8;

        /// <summary>A frame is first received into this much; only a larger one borrows a buffer of the frame limit, for as long as it is read.</summary>
        private const int SmallFrameBytes = 16 * 1024;

        private readonly CollectorOptions _options = services.Options.Value;
        private readonly Channel<InFlight> _inFlight = Channel.CreateBounded<InFlight>(new BoundedChannelOptions(MaxFramesInFlight) { SingleReader = true, SingleWriter = true });
        private readonly SemaphoreSlim _acknowledged = new(0, 1);
        private readonly byte[] _small = new byte[SmallFrameBytes];
        private int _unacked;

        public async Task RunAsync(CancellationToken aborted)
        {
            // Either loop ending for good (the client gone, a failure) stops the other: nothing waits on a loop that is gone.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            var acks = AcknowledgeAsync(stop);
            WebSocketCloseStatus? close = null;
            string? reason = null;
            try
            {
                (close, reason) = await ReadAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                _inFlight.Writer.TryComplete();
                await acks;
            }
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                // Our close frame, without waiting for the client's: a client that stopped reading cannot hold the stream.
                using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await socket.CloseOutputAsync(close ?? WebSocketCloseStatus.NormalClosure, reason ?? "", closing.Token);
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException)
                {
                    socket.Abort();
                }
            }
        }

        /// <summary>Reads frames until the client closes (or a frame is too large), handing each to ingestion in order.</summary>
        private async Task<(WebSocketCloseStatus?, string?)> ReadAsync(CancellationToken ct)
        {
            var limit = _options.MaxBatchBytes;
            try
            {
                while (true)
                {
                    // Back-pressure: with the window full, nothing more is read until acks free it (a frame may pass it by its own size).
                    while (Volatile.Read(ref _unacked) >= _options.MaxUnackedPerStream) await _acknowledged.WaitAsync(ct);

                    var received = await socket.ReceiveAsync(_small.AsMemory(), ct);
                    if (received.MessageType == WebSocketMessageType.Close) return (null, null);
                    byte[]? large = null;
                    var length = received.Count;
                    try
                    {
                        if (!received.EndOfMessage)
                        {
                            large = ArrayPool<byte>.Shared.Rent(limit + 1);
                            _small.AsSpan(0, length).CopyTo(large);
                            // One byte past the limit is enough to know a frame is too large.
                            do
                            {
                                if (length > limit) return TooLarge(limit);
                                received = await socket.ReceiveAsync(large.AsMemory(length, limit + 1 - length), ct);
                                length += received.Count;
                            }
                            while (!received.EndOfMessage && received.MessageType != WebSocketMessageType.Close);
                            if (received.MessageType == WebSocketMessageType.Close) return (null, null);
                        }
                        if (length > limit) return TooLarge(limit);
                        await TakeAsync((large ?? _small).AsMemory(0, length), received.MessageType, ct);
                    }
                    finally
                    {
                        if (large is not null) ArrayPool<byte>.Shared.Return(large);
                    }
                }
            }
            catch (WebSocketException)
            {
                return (null, null); // the client went away without a close handshake: nothing more to answer
            }
        }

        /// <summary>A whole frame: refused at once, or its events on their way to the broker (the bytes are not needed after reading).</summary>
        private async Task TakeAsync(ReadOnlyMemory<byte> frame, WebSocketMessageType type, CancellationToken ct)
        {
            var started = Stopwatch.GetTimestamp();
            if (type == WebSocketMessageType.Binary)
            {
                await QueueAsync(new InFlight(null, [], NotText, started), ct);
                return;
            }
            var read = Read(frame);
            if (read.Problem is { } problem)
            {
                services.Metrics.Rejected(EndpointType, problem.Reason);
                await QueueAsync(new InFlight(null, [], problem, started), ct);
                return;
            }
            var ids = read.Events.Select(e => e.MessageId).ToList();
            Interlocked.Add(ref _unacked, ids.Count);
            await QueueAsync(new InFlight(services.Pipeline.IngestAsync(read.Events, ct), ids, null, started), ct);
        }

        private ValueTask QueueAsync(InFlight frame, CancellationToken ct) => _inFlight.Writer.WriteAsync(frame, ct);

        private (WebSocketCloseStatus?, string?) TooLarge(int limit)
        {
            services.Metrics.Rejected(EndpointType, "batch-too-large");
            return (WebSocketCloseStatus.MessageTooBig, $"a frame is at most {limit} bytes (Collector:MaxBatchBytes)");
        }

        /// <summary>One message (an object with <c>type</c>) or a batch (<c>{"batch":[…]}</c>), read as the HTTP API reads them.</summary>
        private ReadResult Read(ReadOnlyMemory<byte> frame)
        {
            var now = info();
            var type = SingleTypeOf(frame.Span);
            return type is null
                ? services.Reader.ReadBatch(frame, now)
                : SegmentRequestReader.TypeOfPath(type) is { } known
                    ? services.Reader.ReadSingle(frame, known, now)
                    : ReadResult.Rejected(new RequestProblem(ProblemKind.InvalidEvent, "The event is invalid",
                        $"'{type}' is not an event type; a frame is one message with type track, identify, page, screen, group or alias, or {{\"batch\":[…]}}",
                        [new FieldError("type", "must be track, identify, page, screen, group or alias")]));
        }

        /// <summary>The top-level <c>type</c> of a frame that is one message; null for a batch or anything else (the batch reader names the problem).</summary>
        private static string? SingleTypeOf(ReadOnlySpan<byte> frame)
        {
            try
            {
                var reader = new Utf8JsonReader(frame, new JsonReaderOptions { MaxDepth = SegmentRequestReader.MaxDepth });
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
                string? type = null;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("batch"u8)) return null;
                    var isType = reader.ValueTextEquals("type"u8);
                    reader.Read();
                    if (isType && reader.TokenType == JsonTokenType.String) type = reader.GetString();
                    else reader.Skip();
                }
                return type;
            }
            catch (JsonException)
            {
                return null;
            }
        }

        /// <summary>Sends, in the order frames came, an ack per accepted message or the frame's error.</summary>
        private async Task AcknowledgeAsync(CancellationTokenSource stop)
        {
            var ct = stop.Token;
            try
            {
                await foreach (var frame in _inFlight.Reader.ReadAllAsync(ct))
                {
                    var problem = frame.Refused ?? await OutcomeOf(frame);
                    if (problem is not null)
                    {
                        await SendAsync(ErrorFrame(problem, frame.MessageIds), ct);
                    }
                    else
                    {
                        foreach (var id in frame.MessageIds) await SendAsync(AckFrame(id), ct);
                        services.Metrics.StreamAcknowledged(Stopwatch.GetElapsedTime(frame.ReceivedAt).TotalMilliseconds);
                    }
                    if (frame.MessageIds.Count > 0)
                    {
                        Interlocked.Add(ref _unacked, -frame.MessageIds.Count);
                        // One signal is enough: the reader checks the window again whenever it wakes.
                        if (_acknowledged.CurrentCount == 0) _acknowledged.Release();
                    }
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The connection is gone; what was not acknowledged is the client's to send again.
            }
            finally
            {
                await stop.CancelAsync(); // the reader stops too, even while it waits for room in the window
            }
        }

        /// <summary>A frame's ingestion: null when the broker holds its messages, else why not (an unexpected failure is a 503 to resend).</summary>
        private async Task<RequestProblem?> OutcomeOf(InFlight frame)
        {
            try
            {
                var outcome = await frame.Ingestion!;
                if (outcome.Problem is { } problem) services.Metrics.Rejected(EndpointType, problem.Reason);
                return outcome.Problem;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                services.Logger.LogWarning(e, "A stream frame of {Messages} messages could not be ingested", frame.MessageIds.Count);
                services.Metrics.Rejected(EndpointType, "unavailable");
                return new RequestProblem(ProblemKind.Unavailable, "Events could not be queued", "The frame could not be queued; send its messages again.", []);
            }
        }

        private Task SendAsync(byte[] frame, CancellationToken ct) =>
            socket.State is WebSocketState.Open or WebSocketState.CloseReceived
                ? socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, ct)
                : Task.CompletedTask;

        private static byte[] AckFrame(string messageId) =>
            JsonSerializer.SerializeToUtf8Bytes(new StreamAck("ack", messageId), CollectorJsonContext.Default.StreamAck);

        private byte[] ErrorFrame(RequestProblem problem, IReadOnlyList<string> messageIds) =>
            JsonSerializer.SerializeToUtf8Bytes(new StreamError("error", problem.Status, problem.Type, problem.Title, problem.Detail,
                problem.Errors.Count == 0 ? null : problem.Errors, messageIds.Count == 0 ? null : messageIds,
                problem.Status == StatusCodes.Status503ServiceUnavailable ? _options.RetryAfterSeconds : null), CollectorJsonContext.Default.StreamError);

        private static readonly RequestProblem NotText = new(ProblemKind.InvalidJson, "The frame is not text",
            "Frames are JSON text: one message with its type, or {\"batch\":[…]}; binary frames are not read.", []);
    }
}

/// <summary>The server's frame for one message the broker holds.</summary>
public sealed record StreamAck(string Type, string MessageId);

/// <summary>The server's frame for a frame it refused or could not queue (then <see cref="RetryAfter"/> seconds; resend its messages).</summary>
public sealed record StreamError(string Type, int Status, string ProblemType, string Title, string Detail,
    IReadOnlyList<FieldError>? Errors, IReadOnlyList<string>? MessageIds, int? RetryAfter);
