using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Personalization.Contracts;

namespace Personalization.Collector.Model;

/// <summary>What the request says beyond its body: when it came, from which source, from where, with which opt-out signals.</summary>
public readonly record struct RequestInfo(DateTimeOffset ReceivedAt, string? Source, string? ClientIp = null, IReadOnlyList<string>? Signals = null);

/// <summary>Either the normalized events of a request or the one problem that rejects it whole.</summary>
public sealed record ReadResult(IReadOnlyList<CollectedEvent> Events, RequestProblem? Problem)
{
    public static ReadResult Rejected(RequestProblem problem) => new([], problem);
}

/// <summary>
/// Turns the body of a Segment HTTP Tracking API request into <see cref="CollectedEvent"/>s: checks
/// size limits, UTF-8, JSON, each field's type and the ids each event type needs, then normalizes
/// (messageId, receivedAt, clock-skew corrected timestamp). A batch with one bad event is rejected whole.
/// </summary>
public sealed class SegmentRequestReader(CollectorOptions options)
{
    /// <summary>At most this many field errors are listed in one answer.</summary>
    public const int MaxErrorsListed = 50;

    private const int MaxIdLength = 1024;

    /// <summary>
    /// Nesting of objects and arrays a body may have. Events travel on inside envelopes and every stage reads them
    /// with System.Text.Json's default limit of 64, so an accepted event must stay well below it.
    /// </summary>
    public const int MaxDepth = 32;

    private static readonly HashSet<string> KnownTypes =
        [EventTypes.Track, EventTypes.Identify, EventTypes.Page, EventTypes.Screen, EventTypes.Group, EventTypes.Alias];

    /// <summary>Maps the analytics.js short paths (<c>/v1/t</c> …) and the long ones to event types.</summary>
    public static string? TypeOfPath(string segment) => segment switch
    {
        "track" or "t" => EventTypes.Track,
        "identify" or "i" => EventTypes.Identify,
        "page" or "p" => EventTypes.Page,
        "screen" or "s" => EventTypes.Screen,
        "group" or "g" => EventTypes.Group,
        "alias" or "a" => EventTypes.Alias,
        _ => null,
    };

    public ReadResult ReadSingle(ReadOnlyMemory<byte> body, string type, RequestInfo info)
    {
        if (body.Length > options.MaxEventBytes)
        {
            return ReadResult.Rejected(TooLarge(isBatch: false, body.Length));
        }
        if (CheckText(body.Span) is { } textProblem)
        {
            return ReadResult.Rejected(textProblem);
        }

        using var document = Parse(body, out var parseProblem);
        if (document is null)
        {
            return ReadResult.Rejected(parseProblem!);
        }

        var errors = new List<FieldError>();
        var collected = ReadEvent(document.RootElement, type, index: null, shared: default, info, errors);
        return collected is null
            ? ReadResult.Rejected(new RequestProblem(ProblemKind.InvalidEvent, "The event is invalid",
                $"The {type} event was rejected: {Describe(errors)}", errors))
            : new ReadResult([collected], null);
    }

    public ReadResult ReadBatch(ReadOnlyMemory<byte> body, RequestInfo info)
    {
        if (body.Length > options.MaxBatchBytes)
        {
            return ReadResult.Rejected(TooLarge(isBatch: true, body.Length));
        }
        if (CheckText(body.Span) is { } textProblem)
        {
            return ReadResult.Rejected(textProblem);
        }

        using var document = Parse(body, out var parseProblem);
        if (document is null)
        {
            return ReadResult.Rejected(parseProblem!);
        }

        var errors = new List<FieldError>();
        SegmentBatch? envelope = null;
        try
        {
            envelope = document.RootElement.Deserialize(CollectorJsonContext.Default.SegmentBatch);
        }
        catch (JsonException e)
        {
            errors.Add(new FieldError(FieldOf(e.Path, ""), "has the wrong type"));
        }

        if (envelope is not null)
        {
            if (envelope.Batch is not { ValueKind: JsonValueKind.Array } items)
            {
                errors.Add(new FieldError("batch", envelope.Batch is null ? "is required: an array of events" : "must be an array of events"));
            }
            else
            {
                var shared = new SharedFields(
                    ObjectOrError(envelope.Context, "context", null, errors),
                    ObjectOrError(envelope.Integrations, "integrations", null, errors),
                    TimestampOrError(envelope.SentAt, "sentAt", null, errors));
                return ReadItems(items, shared, info, errors);
            }
        }

        return ReadResult.Rejected(InvalidBatch(errors, eventCount: 0));
    }

    /// <summary>
    /// One row of an import (<see cref="ImportRows"/>): a Segment message of its own <c>type</c>, else of
    /// <paramref name="defaultType"/>, checked as a batch's event is. Without a <c>messageId</c> it gets
    /// <see cref="ImportRows.DeterministicId"/>, so the same row imported again is a duplicate. The first problem rejects it.
    /// </summary>
    public (CollectedEvent? Event, FieldError? Problem) ReadImported(ReadOnlyMemory<byte> message, string? defaultType, RequestInfo info)
    {
        if (CheckText(message.Span) is { } textProblem) return (null, textProblem.Errors[0]);
        using var document = Parse(message, out var parseProblem);
        if (document is null) return (null, parseProblem!.Errors[0] with { Field = "row" });
        var root = document.RootElement;
        string? type = defaultType;
        if (root.TryGetProperty("type", out var typeElement) && typeElement.ValueKind != JsonValueKind.Null)
        {
            type = typeElement.ValueKind == JsonValueKind.String ? typeElement.GetString()!.ToLowerInvariant() : "";
        }
        if (type is null || !KnownTypes.Contains(type))
        {
            return (null, new FieldError("type", type is null
                ? "is required (or the import's ?type=): one of track, identify, page, screen, group, alias"
                : "must be one of track, identify, page, screen, group, alias"));
        }
        var errors = new List<FieldError>();
        var collected = ReadEvent(root, type, index: null, shared: default, info, errors, ImportRows.DeterministicId(info.Source, message.Span));
        return collected is null ? (null, errors[0]) : (collected, null);
    }

    /// <summary>
    /// The answer to a body over the limit of its endpoint; <paramref name="size"/> is null when the
    /// body was only read up to one byte past the limit.
    /// </summary>
    /// <summary>A compressed body that does not decompress.</summary>
    public static RequestProblem NotDecodable(string reason) =>
        new(ProblemKind.InvalidJson, "The body cannot be decompressed",
            $"The body does not decompress as its Content-Encoding says ({reason}). Nothing was accepted.",
            [new FieldError("Content-Encoding", $"does not match the body: {reason}")]);

    public RequestProblem TooLarge(bool isBatch, long? size)
    {
        var limit = isBatch ? options.MaxBatchBytes : options.MaxEventBytes;
        var actual = size is { } bytes ? $"is {bytes} bytes" : $"is larger than {limit} bytes";
        var error = new FieldError("body", $"{actual}; the limit is {limit}");
        return isBatch
            ? new RequestProblem(ProblemKind.BatchTooLarge, "The batch is too large",
                $"A batch may be at most {limit} bytes ({limit / 1024} KB); this one {actual}. Nothing was accepted.", [error])
            : new RequestProblem(ProblemKind.EventTooLarge, "The event is too large",
                $"An event may be at most {limit} bytes ({limit / 1024} KB); this one {actual}. Nothing was accepted.", [error]);
    }

    private ReadResult ReadItems(JsonElement items, SharedFields shared, RequestInfo info, List<FieldError> errors)
    {
        var events = new List<CollectedEvent>(items.GetArrayLength());
        var sizeErrorsOnly = true;
        var index = 0;
        foreach (var item in items.EnumerateArray())
        {
            var field = $"batch[{index}]";
            var size = JsonMarshal.GetRawUtf8Value(item).Length;
            if (size > options.MaxEventBytes)
            {
                errors.Add(new FieldError(field, $"is {size} bytes; the limit per event is {options.MaxEventBytes}", index));
            }
            else if (item.ValueKind != JsonValueKind.Object)
            {
                sizeErrorsOnly = false;
                errors.Add(new FieldError(field, "must be an object", index));
            }
            else
            {
                var errorsBefore = errors.Count;
                var type = TypeOf(item, index, errors);
                var collected = type is null ? null : ReadEvent(item, type, index, shared, info, errors);
                if (collected is not null)
                {
                    events.Add(collected);
                }
                sizeErrorsOnly &= errors.Count == errorsBefore;
            }
            index++;
        }

        if (errors.Count == 0)
        {
            return new ReadResult(events, null);
        }
        if (sizeErrorsOnly)
        {
            return ReadResult.Rejected(new RequestProblem(ProblemKind.EventTooLarge, "An event is too large",
                $"An event may be at most {options.MaxEventBytes} bytes ({options.MaxEventBytes / 1024} KB): {Describe(errors)}. The batch was rejected whole: none of its {index} events was accepted.",
                Cap(errors)));
        }
        return ReadResult.Rejected(InvalidBatch(errors, index));
    }

    private static string? TypeOf(JsonElement item, int index, List<FieldError> errors)
    {
        var field = $"batch[{index}].type";
        if (!item.TryGetProperty("type", out var typeElement) || typeElement.ValueKind == JsonValueKind.Null)
        {
            errors.Add(new FieldError(field, "is required in a batch: one of track, identify, page, screen, group, alias", index));
            return null;
        }
        var type = typeElement.ValueKind == JsonValueKind.String ? typeElement.GetString()!.ToLowerInvariant() : null;
        if (type is null || !KnownTypes.Contains(type))
        {
            errors.Add(new FieldError(field, "must be one of track, identify, page, screen, group, alias", index));
            return null;
        }
        return type;
    }

    private static CollectedEvent? ReadEvent(
        JsonElement element, string type, int? index, SharedFields shared, RequestInfo info, List<FieldError> errors, string? fallbackMessageId = null)
    {
        var prefix = index is { } i ? $"batch[{i}]." : "";
        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new FieldError(index is null ? "body" : $"batch[{index}]", "must be a JSON object", index));
            return null;
        }

        SegmentMessage message;
        try
        {
            message = element.Deserialize(CollectorJsonContext.Default.SegmentMessage)!;
        }
        catch (JsonException e)
        {
            errors.Add(new FieldError(FieldOf(e.Path, prefix), "has the wrong type: " + TypeHint(FieldOf(e.Path, "")), index));
            return null;
        }

        var errorsBefore = errors.Count;
        var userId = Id(message.UserId, prefix + "userId", index, errors);
        var anonymousId = Id(message.AnonymousId, prefix + "anonymousId", index, errors);
        var messageId = Id(message.MessageId, prefix + "messageId", index, errors, maxLength: 256);
        var groupId = Id(message.GroupId, prefix + "groupId", index, errors);
        var previousId = Id(message.PreviousId, prefix + "previousId", index, errors);

        if (type == EventTypes.Alias)
        {
            if (previousId is null)
            {
                errors.Add(new FieldError(prefix + "previousId", "is required for alias", index));
            }
            if (userId is null)
            {
                errors.Add(new FieldError(prefix + "userId", "is required for alias", index));
            }
        }
        else if (userId is null && anonymousId is null)
        {
            errors.Add(new FieldError(prefix + "userId", "is required, or else anonymousId", index));
        }
        if (type == EventTypes.Track && string.IsNullOrWhiteSpace(message.Event))
        {
            errors.Add(new FieldError(prefix + "event", "is required for track", index));
        }
        if (type == EventTypes.Group && groupId is null)
        {
            errors.Add(new FieldError(prefix + "groupId", "is required for group", index));
        }

        var properties = ObjectOrError(message.Properties, prefix + "properties", index, errors);
        var traits = ObjectOrError(message.Traits, prefix + "traits", index, errors);
        var context = ObjectOrError(message.Context, prefix + "context", index, errors);
        var integrations = ObjectOrError(message.Integrations, prefix + "integrations", index, errors);
        var original = TimestampOrError(message.Timestamp, prefix + "timestamp", index, errors);
        var sentAt = TimestampOrError(message.SentAt, prefix + "sentAt", index, errors) ?? shared.SentAt;
        var timestamp = ClockSkew.Correct(original, sentAt, info.ReceivedAt);
        if (original is not null && ClockSkew.OutOfRange(timestamp, info.ReceivedAt, corrected: sentAt is not null) is { } outOfRange)
        {
            errors.Add(new FieldError(prefix + "timestamp", outOfRange, index));
        }

        if (errors.Count > errorsBefore)
        {
            return null;
        }

        context = Merge(context, shared.Context);
        if (info.ClientIp is { } ip && (context is null || !context.ContainsKey("ip")))
        {
            context ??= [];
            context["ip"] = ip;
        }

        return new CollectedEvent
        {
            Type = type,
            MessageId = messageId ?? fallbackMessageId ?? Guid.CreateVersion7(info.ReceivedAt).ToString(),
            UserId = userId,
            AnonymousId = anonymousId,
            Event = message.Event,
            Name = message.Name,
            Category = message.Category,
            GroupId = groupId,
            PreviousId = previousId,
            Properties = properties,
            Traits = traits,
            Context = context,
            Integrations = Merge(integrations, shared.Integrations),
            OriginalTimestamp = original,
            SentAt = sentAt,
            ReceivedAt = info.ReceivedAt,
            Timestamp = timestamp,
            Source = info.Source,
            Signals = info.Signals,
        };
    }

    private static string? Id(string? value, string field, int? index, List<FieldError> errors, int maxLength = MaxIdLength)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }
        if (value.Length > maxLength)
        {
            errors.Add(new FieldError(field, $"is {value.Length} characters; at most {maxLength} are allowed", index));
            return null;
        }
        if (value.Contains(StateKeys.Separator, StringComparison.Ordinal))
        {
            // Ids become parts of state keys, and Dapr refuses a key containing its separator: the event could never be stored.
            errors.Add(new FieldError(field, $"must not contain '{StateKeys.Separator}'", index));
            return null;
        }
        if (value == Heartbeat.ProfileId)
        {
            errors.Add(new FieldError(field, $"'{Heartbeat.ProfileId}' is reserved for the pipeline's heartbeat", index));
            return null;
        }
        return value;
    }

    private static JsonObject? ObjectOrError(JsonElement? element, string field, int? index, List<FieldError> errors)
    {
        switch (element)
        {
            case null or { ValueKind: JsonValueKind.Null }:
                return null;
            case { ValueKind: JsonValueKind.Object } value:
                return JsonObject.Create(value.Clone());
            default:
                errors.Add(new FieldError(field, "must be an object", index));
                return null;
        }
    }

    private static DateTimeOffset? TimestampOrError(JsonElement? element, string field, int? index, List<FieldError> errors)
    {
        if (element is null or { ValueKind: JsonValueKind.Null })
        {
            return null;
        }
        if (Iso8601.TryParse(element.Value, out var value))
        {
            return value;
        }
        errors.Add(new FieldError(field, "must be an ISO 8601 date-time string, e.g. 2024-05-01T12:30:00.000Z", index));
        return null;
    }

    /// <summary>Fields of the batch envelope fill in what an event leaves out; the event's own keys win.</summary>
    private static JsonObject? Merge(JsonObject? own, JsonObject? shared)
    {
        if (shared is null)
        {
            return own;
        }
        own ??= [];
        foreach (var (key, value) in shared)
        {
            if (!own.ContainsKey(key))
            {
                own[key] = value?.DeepClone();
            }
        }
        return own;
    }

    private RequestProblem? CheckText(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
        {
            return new RequestProblem(ProblemKind.InvalidJson, "The body is empty", "The request needs a JSON object as its body.",
                [new FieldError("body", "is empty")]);
        }
        var invalid = Utf8Locator.FirstInvalidByte(body);
        if (invalid < 0)
        {
            return null;
        }
        var field = Utf8Locator.FieldAt(body, invalid);
        return new RequestProblem(ProblemKind.InvalidUtf8, "The body is not valid UTF-8",
            $"Byte {invalid} of the body, in {field}, is not valid UTF-8. Nothing was accepted.",
            [new FieldError(field, $"contains invalid UTF-8 at byte {invalid}")]);
    }

    private static JsonDocument? Parse(ReadOnlyMemory<byte> body, out RequestProblem? problem)
    {
        try
        {
            var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = MaxDepth });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                problem = new RequestProblem(ProblemKind.InvalidJson, "The body is not a JSON object",
                    "The request body must be a JSON object.", [new FieldError("body", "must be a JSON object")]);
                return null;
            }
            problem = null;
            return document;
        }
        catch (JsonException e) when (e.Message.Contains("maximum configured depth", StringComparison.Ordinal))
        {
            // System.Text.Json reports the depth limit only in its message.
            problem = new RequestProblem(ProblemKind.InvalidJson, "The body nests too deeply",
                $"The body nests objects and arrays more than {MaxDepth} levels deep (line {e.LineNumber + 1}). Nothing was accepted.",
                [new FieldError(FieldOf(e.Path, ""), $"nests more than {MaxDepth} levels deep")]);
            return null;
        }
        catch (JsonException e)
        {
            problem = new RequestProblem(ProblemKind.InvalidJson, "The body is not valid JSON",
                $"The body is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}). Nothing was accepted.",
                [new FieldError(FieldOf(e.Path, ""), "is not valid JSON")]);
            return null;
        }
    }

    private static RequestProblem InvalidBatch(IReadOnlyList<FieldError> errors, int eventCount) =>
        new(ProblemKind.InvalidEvent, "The batch is invalid",
            $"{Describe(errors)}. The batch was rejected whole: none of its {eventCount} events was accepted.", Cap(errors));

    private static IReadOnlyList<FieldError> Cap(IReadOnlyList<FieldError> errors) =>
        errors.Count <= MaxErrorsListed ? errors : errors.Take(MaxErrorsListed).ToList();

    private static string Describe(IReadOnlyList<FieldError> errors) =>
        errors.Count == 1
            ? $"{errors[0].Field} {errors[0].Message}"
            : $"{errors.Count} fields are invalid, first {errors[0].Field} {errors[0].Message}";

    /// <summary>Turns a serializer path (<c>$.userId</c>, <c>$['user id']</c>) into a field name under <paramref name="prefix"/>.</summary>
    private static string FieldOf(string? path, string prefix)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return prefix.Length == 0 ? "body" : prefix.TrimEnd('.');
        }
        var field = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        return prefix + field;
    }

    private static string TypeHint(string field) => field switch
    {
        "userId" or "anonymousId" or "messageId" or "groupId" or "previousId" => "must be a string or a number",
        "properties" or "traits" or "context" or "integrations" => "must be an object",
        "timestamp" or "sentAt" => "must be an ISO 8601 date-time string",
        _ => "must be a string",
    };

    private readonly record struct SharedFields(JsonObject? Context, JsonObject? Integrations, DateTimeOffset? SentAt);
}
