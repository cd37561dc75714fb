using System.Text.Json;
using Personalization.Sidecar.PubSub;
using Personalization.Sidecar.Components;
using Personalization.Sidecar.Options;
using Personalization.Sidecar.State;
using Personalization.Sidecar.Subscriptions;

namespace Personalization.Sidecar.Apis;

/// <summary>
/// The Dapr HTTP API (the default transport of the JavaScript, Python, Java and Go SDKs) at daprd's paths. Errors are
/// Dapr's JSON <c>{"errorCode","message"}</c>. Bodies are limited to <see cref="DaprCore.MaxBodyBytes"/>.
/// </summary>
public static class HttpApi
{
    /// <summary>Maps the API to requests arriving on <paramref name="port"/> only (the gRPC port has its own pipeline).</summary>
    public static WebApplication MapDaprHttpApi(this WebApplication app, int port)
    {
        app.UseWhen(context => context.Connection.LocalPort == port, branch => branch.Use(ErrorsAndTokenAsync));
        var api = app.MapGroup("").RequireHost($"*:{port}");

        api.MapGet("/v1.0/healthz", (Readiness r) => r.Outbound && r.App ? Results.NoContent() : Error(DaprError.NotReady()));
        api.MapGet("/v1.0/healthz/outbound", (Readiness r) => r.Outbound ? Results.NoContent() : Error(DaprError.NotReady()));
        api.MapGet("/v1.0/metadata", Metadata);

        api.MapGet("/v1.0/state/{store}/{key}", GetStateAsync);
        api.MapDelete("/v1.0/state/{store}/{key}", DeleteStateAsync);
        api.MapMethods("/v1.0/state/{store}", ["POST", "PUT"], SaveStateAsync);
        api.MapMethods("/v1.0/state/{store}/bulk", ["POST", "PUT"], GetBulkStateAsync);
        api.MapMethods("/v1.0/state/{store}/transaction", ["POST", "PUT"], TransactAsync);

        api.MapGet("/v1.0/secrets/{store}/bulk", (string store, DaprCore core) => Results.Json(core.GetBulkSecret(store)));
        api.MapGet("/v1.0/secrets/{store}/{name}", (string store, string name, DaprCore core) => Results.Json(core.GetSecret(store, name)));
        api.MapPost("/v1.0/publish/{pubsub}/{*topic}", PublishAsync);
        api.MapPost("/v1.0-alpha1/publish/bulk/{pubsub}/{*topic}", BulkPublishAsync);
        api.MapPost("/v1.0/publish/bulk/{pubsub}/{*topic}", BulkPublishAsync);

        api.Map("/v1.0/invoke/{appId}/method/{*path}", Invocation.InvokeAsync);
        return app;
    }

    /// <summary>API token check (health endpoints exempt) and the translation of failures into Dapr's error shape.</summary>
    private static async Task ErrorsAndTokenAsync(HttpContext context, RequestDelegate next)
    {
        var path = context.Request.Path;
        if (!path.StartsWithSegments("/v1.0/healthz") && !context.RequestServices.GetRequiredService<ApiToken>().Accepts(context.Request.Headers[ApiToken.Header]))
        {
            await Write(context, DaprError.Unauthorized());
            return;
        }
        try
        {
            await next(context);
        }
        catch (DaprError e) when (!context.Response.HasStarted)
        {
            await Write(context, e);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            await Write(context, e.StatusCode == 413 ? DaprError.TooLarge(DaprCore.MaxBodyBytes) : DaprError.Malformed(e.Message));
        }
        catch (JsonException e) when (!context.Response.HasStarted)
        {
            await Write(context, DaprError.Malformed("failed deserializing HTTP body: " + e.Message));
        }
    }

    private static Task Write(HttpContext context, DaprError error)
    {
        context.Response.StatusCode = error.HttpStatus;
        return context.Response.WriteAsJsonAsync(new ErrorBody(error.ErrorCode, error.Message), HttpJson.Default.ErrorBody);
    }

    private static IResult Error(DaprError error) => Results.Json(new ErrorBody(error.ErrorCode, error.Message), HttpJson.Default.ErrorBody, statusCode: error.HttpStatus);

    internal static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > DaprCore.MaxBodyBytes) throw DaprError.TooLarge(DaprCore.MaxBodyBytes);
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    private static async Task<JsonDocument> ReadJsonAsync(HttpRequest request, CancellationToken ct)
    {
        var body = await ReadBodyAsync(request, ct);
        if (body.Length == 0) throw DaprError.Malformed("failed deserializing HTTP body: the body is empty");
        return JsonDocument.Parse(body);
    }

    /// <summary>Query parameters <c>metadata.{name}</c>, as daprd reads request metadata.</summary>
    private static Dictionary<string, string> QueryMetadata(HttpRequest request) => request.Query
        .Where(q => q.Key.StartsWith("metadata.", StringComparison.Ordinal))
        .ToDictionary(q => q.Key["metadata.".Length..], q => q.Value.ToString());

    private static async Task<IResult> GetStateAsync(string store, string key, HttpContext context, DaprCore core)
    {
        var entry = await core.GetStateAsync(store, key, context.RequestAborted);
        if (entry is null) return Results.NoContent();
        context.Response.Headers.ETag = entry.ETag;
        foreach (var (k, v) in entry.Metadata ?? new Dictionary<string, string>()) context.Response.Headers["metadata." + k] = v;
        return Results.Bytes(entry.Data.ToArray(), IsJson(entry.Data.Span) ? "application/json" : "text/plain");
    }

    private static async Task<IResult> DeleteStateAsync(string store, string key, HttpContext context, DaprCore core)
    {
        var etag = context.Request.Headers.IfMatch.ToString();
        await core.DeleteStateAsync(store, [(key, etag, ConcurrencyOf(context.Request.Query["concurrency"]), QueryMetadata(context.Request))], context.RequestAborted);
        return Results.NoContent();
    }

    private static async Task<IResult> SaveStateAsync(string store, HttpContext context, DaprCore core)
    {
        using var doc = await ReadJsonAsync(context.Request, context.RequestAborted);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw DaprError.Malformed("failed deserializing HTTP body: expected a JSON array of state items");
        await core.SaveStateAsync(store, doc.RootElement.EnumerateArray().Select(ToSaveItem).ToList(), context.RequestAborted);
        return Results.NoContent();
    }

    private static async Task<IResult> GetBulkStateAsync(string store, HttpContext context, DaprCore core)
    {
        using var doc = await ReadJsonAsync(context.Request, context.RequestAborted);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetField("keys", out var keysElement) || keysElement.ValueKind != JsonValueKind.Array)
            throw DaprError.Malformed("failed deserializing HTTP body: expected {\"keys\":[...]}");
        var keys = keysElement.EnumerateArray().Select(k => k.ValueKind == JsonValueKind.String ? k.GetString()! : throw DaprError.Malformed("keys must be strings")).ToList();
        var items = await core.GetBulkStateAsync(store, keys, context.RequestAborted);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var item in items)
            {
                json.WriteStartObject();
                json.WriteString("key", item.Key);
                if (item.Entry is { } entry)
                {
                    json.WritePropertyName("data");
                    if (IsJson(entry.Data.Span)) json.WriteRawValue(entry.Data.Span, skipInputValidation: true);
                    else json.WriteStringValue(System.Text.Encoding.UTF8.GetString(entry.Data.Span));
                    json.WriteString("etag", entry.ETag);
                }
                if (item.Error is not null) json.WriteString("error", item.Error);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        return Results.Bytes(buffer.ToArray(), "application/json");
    }

    private static async Task<IResult> TransactAsync(string store, HttpContext context, DaprCore core)
    {
        using var doc = await ReadJsonAsync(context.Request, context.RequestAborted);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetField("operations", out var ops) || ops.ValueKind != JsonValueKind.Array)
            throw DaprError.Malformed("failed deserializing HTTP body: expected {\"operations\":[...]}");
        var operations = ops.EnumerateArray().Select(op =>
        {
            var kind = op.StringField("operation");
            var request = op.TryGetField("request", out var r) && r.ValueKind == JsonValueKind.Object ? r : throw DaprError.Malformed("operation without request");
            var item = ToSaveItem(request);
            return kind switch
            {
                "upsert" => (object)item,
                "delete" => new StateDelete(item.Key, item.ETag, item.Concurrency, item.Metadata),
                _ => throw DaprError.Malformed($"operation type {kind} not supported"),
            };
        }).ToList();
        await core.TransactAsync(store, operations, context.RequestAborted);
        return Results.NoContent();
    }

    private static SaveItem ToSaveItem(JsonElement item)
    {
        if (item.ValueKind != JsonValueKind.Object) throw DaprError.Malformed("failed deserializing HTTP body: a state item is not an object");
        var key = item.TryGetField("key", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString()! : throw DaprError.Malformed("a state item has no key");
        var value = item.TryGetField("value", out var v) ? System.Text.Encoding.UTF8.GetBytes(v.GetRawText()) : [];
        var etag = item.TryGetField("etag", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        var concurrency = item.TryGetField("options", out var o) ? ConcurrencyOf(o.StringField("concurrency")) : StateConcurrency.Unspecified;
        var metadata = new Dictionary<string, string>();
        if (item.TryGetField("metadata", out var m) && m.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in m.EnumerateObject()) metadata[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
        }
        return new SaveItem(key, value, etag, concurrency, metadata);
    }

    private static StateConcurrency ConcurrencyOf(string? value) => value switch
    {
        "first-write" => StateConcurrency.FirstWrite,
        "last-write" => StateConcurrency.LastWrite,
        null or "" => StateConcurrency.Unspecified,
        _ => throw DaprError.Malformed($"unknown concurrency '{value}' (first-write or last-write)"),
    };

    private static async Task<IResult> PublishAsync(string pubsub, string topic, HttpContext context, DaprCore core)
    {
        var body = await ReadBodyAsync(context.Request, context.RequestAborted);
        await core.PublishAsync(pubsub, topic, body, context.Request.ContentType, QueryMetadata(context.Request), context.RequestAborted);
        return Results.NoContent();
    }

    private static async Task<IResult> BulkPublishAsync(string pubsub, string topic, HttpContext context, DaprCore core)
    {
        using var doc = await ReadJsonAsync(context.Request, context.RequestAborted);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw DaprError.Malformed("failed deserializing HTTP body: expected a JSON array of entries");
        var entries = doc.RootElement.EnumerateArray().Select(entry =>
        {
            var id = entry.StringField("entryId") ?? "";
            var contentType = entry.StringField("contentType");
            if (!entry.TryGetField("event", out var ev)) throw DaprError.Malformed($"entry '{id}' has no event");
            var data = ev.ValueKind == JsonValueKind.String && !CloudEvents.IsJson(contentType)
                ? System.Text.Encoding.UTF8.GetBytes(ev.GetString()!)
                : System.Text.Encoding.UTF8.GetBytes(ev.GetRawText());
            var metadata = new Dictionary<string, string>();
            if (entry.TryGetField("metadata", out var m) && m.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in m.EnumerateObject()) metadata[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
            }
            return new PublishEntry(id, data, contentType, metadata);
        }).ToList();
        var failed = await core.BulkPublishAsync(pubsub, topic, entries, QueryMetadata(context.Request), context.RequestAborted);
        if (failed.Count == 0) return Results.NoContent();
        return Results.Json(new BulkPublishFailure(failed.Select(f => new FailedEntry(f.EntryId, f.Error)).ToList(), "ERR_PUBSUB_PUBLISH_MESSAGE"),
            HttpJson.Default.BulkPublishFailure, statusCode: 500);
    }

    private static IResult Metadata(SidecarOptions options, ComponentRegistry components, SubscriptionHost subscriptions) =>
        Results.Json(new MetadataBody(
            options.AppId, MetadataInfo.RuntimeVersion, [],
            components.Loaded.Select(c => new ComponentBody(c.Name, c.Type, c.Version, MetadataInfo.Capabilities(c.Type))).ToList(),
            subscriptions.Active.Select(s => new SubscriptionBody(s.PubsubName, s.Topic, s.Metadata, s.Rules.Select(r => new RuleBody(r.Match, r.Path)).ToList(), s.DeadLetterTopic ?? "", s.Type)).ToList(),
            new AppConnectionBody(options.AppPort ?? 0, options.AppProtocol, options.AppChannelAddress)),
            HttpJson.Default.MetadataBody);

    private static bool IsJson(ReadOnlySpan<byte> data)
    {
        try
        {
            var reader = new Utf8JsonReader(data);
            return reader.Read() && reader.TrySkip() && !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }
}

public sealed record ErrorBody(string ErrorCode, string Message);
public sealed record FailedEntry(string EntryId, string Error);
public sealed record BulkPublishFailure(IReadOnlyList<FailedEntry> FailedEntries, string ErrorCode);
public sealed record RuleBody(string Match, string Path);
public sealed record SubscriptionBody(string Pubsubname, string Topic, IReadOnlyDictionary<string, string> Metadata, IReadOnlyList<RuleBody> Rules, string DeadLetterTopic, string Type);
public sealed record ComponentBody(string Name, string Type, string Version, IReadOnlyList<string> Capabilities);
public sealed record AppConnectionBody(int Port, string Protocol, string ChannelAddress);
public sealed record MetadataBody(string Id, string RuntimeVersion, IReadOnlyList<string> EnabledFeatures, IReadOnlyList<ComponentBody> Components,
    IReadOnlyList<SubscriptionBody> Subscriptions, AppConnectionBody AppConnectionProperties);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ErrorBody))]
[System.Text.Json.Serialization.JsonSerializable(typeof(BulkPublishFailure))]
[System.Text.Json.Serialization.JsonSerializable(typeof(MetadataBody))]
internal sealed partial class HttpJson : System.Text.Json.Serialization.JsonSerializerContext;
