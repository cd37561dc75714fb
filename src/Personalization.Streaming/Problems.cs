using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Personalization.Streaming;

/// <summary>A field of a request that is wrong, and why; the API answers it as 400 problem+json.</summary>
public sealed record FieldError(string Field, string Detail);

/// <summary>The problem+json answers the services' admin and query APIs share.</summary>
public static class Problems
{
    public const string InvalidRequestType = "urn:personalization:problem:invalid-request";
    public const string BodyTooLargeType = "urn:personalization:problem:body-too-large";

    public static ProblemHttpResult Invalid(FieldError error) => TypedResults.Problem(
        detail: $"{error.Field}: {error.Detail}",
        statusCode: StatusCodes.Status400BadRequest,
        title: "Invalid request",
        type: InvalidRequestType,
        extensions: new Dictionary<string, object?> { ["field"] = error.Field });

    public static ProblemHttpResult TooLarge(int maxBytes) => TypedResults.Problem(
        detail: $"the body is larger than {maxBytes} bytes",
        statusCode: StatusCodes.Status400BadRequest,
        title: "Body too large",
        type: BodyTooLargeType,
        extensions: new Dictionary<string, object?> { ["field"] = "body", ["limit"] = maxBytes });

    /// <summary>The request's body, or null when it is longer than <paramref name="maxBytes"/> (reading stops there).</summary>
    public static async Task<ArrayBufferWriter<byte>?> ReadBodyAsync(HttpRequest request, int maxBytes, CancellationToken ct)
    {
        if (request.ContentLength > maxBytes) return null;
        var buffer = new ArrayBufferWriter<byte>(1024);
        while (true)
        {
            var memory = buffer.GetMemory(4096);
            var read = await request.Body.ReadAsync(memory, ct);
            if (read == 0) return buffer;
            buffer.Advance(read);
            if (buffer.WrittenCount > maxBytes) return null;
        }
    }

    /// <summary>
    /// The request's JSON body as <typeparamref name="T"/>, or the 400 to answer: too large, not JSON, or not the
    /// shape <paramref name="expected"/> describes (a JSON null included).
    /// </summary>
    public static async Task<(T? Body, ProblemHttpResult? Problem)> ReadJsonAsync<T>(HttpRequest request, int maxBytes,
        System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string expected, CancellationToken ct) where T : class
    {
        var body = await ReadBodyAsync(request, maxBytes, ct);
        if (body is null) return (null, TooLarge(maxBytes));
        if (!System.Text.Unicode.Utf8.IsValid(body.WrittenSpan)) return (null, Invalid(new FieldError("body", "is not valid UTF-8")));
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize(body.WrittenSpan, type) is { } read
                ? (read, null)
                : (null, Invalid(new FieldError("body", $"is required: {expected}")));
        }
        catch (System.Text.Json.JsonException e)
        {
            return (null, Invalid(new FieldError("body", $"is not {expected}: {e.Message}")));
        }
    }

    /// <summary>
    /// A request body as a JSON object (at most 32 deep), or the body's error: not UTF-8 (refused first: strings are
    /// decoded lazily, after parsing, and invalid UTF-8 inside one would throw there), not JSON, or not an object
    /// (<paramref name="expected"/> says what it should hold).
    /// </summary>
    public static System.Text.Json.Nodes.JsonObject? ParseObject(ReadOnlySpan<byte> body, string expected, out FieldError? error)
    {
        error = null;
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            error = new FieldError("body", "is not valid UTF-8");
            return null;
        }
        try
        {
            if (System.Text.Json.Nodes.JsonNode.Parse(body, documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 32 })
                is System.Text.Json.Nodes.JsonObject obj) return obj;
            error = new FieldError("body", $"must be a JSON object {expected}");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or InvalidOperationException)
        {
            error = new FieldError("body", $"is not valid JSON: {e.Message}");
        }
        return null;
    }

    public static ProblemHttpResult NotFound(string type, string title, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: StatusCodes.Status404NotFound, title: title, type: type);
}
