using System.Diagnostics;
using Personalization.Sidecar.Components;
using Personalization.Sidecar.Options;
using Personalization.Sidecar.PubSub;
using Personalization.Sidecar.State;

namespace Personalization.Sidecar.Apis;

/// <summary>One item of a save: the value bytes exactly as they are stored.</summary>
public sealed record SaveItem(string Key, ReadOnlyMemory<byte> Value, string? ETag, StateConcurrency Concurrency, IReadOnlyDictionary<string, string> Metadata);

public sealed record BulkGetItem(string Key, StateEntry? Entry, string? Error);

public sealed record PublishEntry(string EntryId, ReadOnlyMemory<byte> Data, string? ContentType, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// The building-block operations both APIs serve (gRPC and HTTP only translate): state with daprd's key prefixing and
/// ETag error mapping, and publishing with daprd's CloudEvent wrapping. Throws <see cref="DaprError"/>.
/// </summary>
public sealed class DaprCore(SidecarOptions options, ComponentRegistry components, SidecarTracing tracing)
{
    public const int MaxBodyBytes = 4 * 1024 * 1024; // daprd's default --max-body-size (4 MiB)

    private StateStoreEntry Store(string name)
    {
        if (components.StateStores.Count == 0) throw DaprError.StateStoresNotConfigured();
        return components.StateStores.TryGetValue(name ?? "", out var entry) ? entry : throw DaprError.StateStoreNotFound(name ?? "");
    }

    private static string Stored(StateStoreEntry store, string key)
    {
        try
        {
            return store.Keys.ToStored(key);
        }
        catch (ArgumentException e)
        {
            throw DaprError.Malformed(e.Message);
        }
    }

    /// <summary>One secret of a secret store (<c>secretstores.local.env</c>: the variable <c>prefix + name</c>, "" when unset, as daprd).</summary>
    public IReadOnlyDictionary<string, string> GetSecret(string storeName, string name)
    {
        if (string.IsNullOrEmpty(name)) throw DaprError.Malformed("secret name is empty");
        var store = SecretStore(storeName);
        var prefix = store.Get("prefix");
        return new Dictionary<string, string> { [name] = Environment.GetEnvironmentVariable(prefix + name) ?? "" };
    }

    /// <summary>Every secret of a secret store, each its own one-entry map (<c>local.env</c>: the variables with its prefix, named without it).</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> GetBulkSecret(string storeName)
    {
        var prefix = SecretStore(storeName).Get("prefix");
        var secrets = new SortedDictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            var name = (string)variable.Key;
            if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var key = name[prefix.Length..];
            secrets[key] = new Dictionary<string, string> { [key] = (string?)variable.Value ?? "" };
        }
        return secrets;
    }

    private ComponentDefinition SecretStore(string name)
    {
        var stores = components.Loaded.Where(c => c.Type.StartsWith("secretstores.", StringComparison.Ordinal)).ToList();
        if (stores.Count == 0) throw DaprError.SecretStoresNotConfigured();
        return stores.FirstOrDefault(c => c.Name == name) ?? throw DaprError.SecretStoreNotFound(name);
    }

    public async Task<StateEntry?> GetStateAsync(string storeName, string key, CancellationToken ct)
    {
        var store = Store(storeName);
        var stored = Stored(store, key);
        try
        {
            return await store.Store.GetAsync(stored, ct);
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw DaprError.StateGet(key, storeName, e.Message);
        }
    }

    public async Task<IReadOnlyList<BulkGetItem>> GetBulkStateAsync(string storeName, IReadOnlyList<string> keys, CancellationToken ct)
    {
        var store = Store(storeName);
        var stored = keys.Select(k => Stored(store, k)).ToList();
        try
        {
            var entries = await store.Store.GetBulkAsync(stored, ct);
            return keys.Select((k, i) => new BulkGetItem(k, entries[i], null)).ToList();
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            return keys.Select(k => new BulkGetItem(k, null, e.Message)).ToList();
        }
    }

    public async Task SaveStateAsync(string storeName, IReadOnlyList<SaveItem> items, CancellationToken ct)
    {
        var store = Store(storeName);
        var requests = items.Select(i => new StateSet(Stored(store, i.Key), i.Value, NullIfEmpty(i.ETag), i.Concurrency, i.Metadata)).ToList();
        foreach (var request in requests)
        {
            await Run(() => store.Store.SetAsync(request, ct), "ERR_STATE_SAVE", e => DaprError.StateSave(storeName, e));
        }
    }

    public async Task DeleteStateAsync(string storeName, IReadOnlyList<(string Key, string? ETag, StateConcurrency Concurrency, IReadOnlyDictionary<string, string> Metadata)> items, CancellationToken ct)
    {
        var store = Store(storeName);
        var requests = items.Select(i => new StateDelete(Stored(store, i.Key), NullIfEmpty(i.ETag), i.Concurrency, i.Metadata)).ToList();
        foreach (var request in requests)
        {
            await Run(() => store.Store.DeleteAsync(request, ct), "ERR_STATE_DELETE", e => DaprError.StateDelete(store.Keys.FromStored(request.Key), e));
        }
    }

    /// <summary>Operations are <see cref="SaveItem"/> (upsert) or a delete tuple; all are applied atomically.</summary>
    public async Task TransactAsync(string storeName, IReadOnlyList<object> operations, CancellationToken ct)
    {
        var store = Store(storeName);
        var requests = operations.Select(op => op switch
        {
            SaveItem s => (object)new StateSet(Stored(store, s.Key), s.Value, NullIfEmpty(s.ETag), s.Concurrency, s.Metadata),
            StateDelete d => d with { Key = Stored(store, d.Key), ETag = NullIfEmpty(d.ETag) },
            _ => throw DaprError.Malformed("unknown transaction operation"),
        }).ToList();
        await Run(() => store.Store.TransactAsync(requests, ct), "ERR_STATE_TRANSACTION", DaprError.StateTransaction);
    }

    private static async Task Run(Func<Task> operation, string code, Func<string, DaprError> failure)
    {
        try
        {
            await operation();
        }
        catch (ETagMismatchException e)
        {
            throw DaprError.ETagMismatch(code, failure("possible etag mismatch. error from state store: " + e.Message).Message);
        }
        catch (ETagInvalidException e)
        {
            throw DaprError.ETagInvalid(code, failure(e.Message).Message);
        }
        catch (ArgumentException e)
        {
            throw DaprError.Malformed(e.Message);
        }
        catch (Exception e) when (IsStoreFailure(e))
        {
            throw failure(e.Message);
        }
    }

    private static bool IsStoreFailure(Exception e) => e is StackExchange.Redis.RedisException or Npgsql.NpgsqlException
        or InvalidOperationException or TimeoutException or System.Net.Sockets.SocketException;

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private IPubSub PubSub(string name, string topic)
    {
        if (string.IsNullOrEmpty(name)) throw DaprError.PubsubEmpty();
        if (components.PubSubs.Count == 0) throw DaprError.PubsubNotConfigured();
        if (!components.PubSubs.TryGetValue(name, out var pubsub)) throw DaprError.PubsubNotFound(name);
        if (string.IsNullOrEmpty(topic)) throw DaprError.TopicEmpty(name);
        return pubsub;
    }

    /// <summary>Publishes one event: wrapped in a CloudEvent unless metadata rawPayload=true; returns once the broker has it.</summary>
    public async Task PublishAsync(string pubsubName, string topic, ReadOnlyMemory<byte> data, string? contentType, IReadOnlyDictionary<string, string> metadata, CancellationToken ct)
    {
        var pubsub = PubSub(pubsubName, topic);
        var current = Activity.Current;
        using var activity = tracing.StartPublish(topic, current);
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", topic);
        var (body, bodyType) = Envelope(data, contentType, metadata, Context(pubsubName, topic, activity ?? current));
        try
        {
            await pubsub.PublishAsync(topic, body, bodyType, metadata, ct);
        }
        catch (Exception e) when (e is not (OperationCanceledException or DaprError))
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw DaprError.Publish(topic, pubsubName, e.Message);
        }
        SidecarTelemetry.Published.Add(1, SidecarTelemetry.Tags(pubsubName, topic));
    }

    /// <summary>
    /// Publishes every entry as one batch on the broker (one span, one exchange check, one channel, confirms awaited
    /// together); returns the entries that failed, with their error.
    /// </summary>
    public async Task<IReadOnlyList<(string EntryId, string Error)>> BulkPublishAsync(
        string pubsubName, string topic, IReadOnlyList<PublishEntry> entries, IReadOnlyDictionary<string, string> metadata, CancellationToken ct)
    {
        var pubsub = PubSub(pubsubName, topic);
        var ids = new HashSet<string>(entries.Count);
        foreach (var entry in entries)
        {
            if (string.IsNullOrEmpty(entry.EntryId)) throw DaprError.Malformed("entryId is required for every entry");
            if (!ids.Add(entry.EntryId)) throw DaprError.Malformed($"entryId '{entry.EntryId}' is duplicated");
        }
        var failed = new List<(string EntryId, string Error)>();
        if (entries.Count == 0) return failed;

        var current = Activity.Current;
        using var activity = tracing.StartPublish(topic, current);
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", topic);
        activity?.SetTag("messaging.batch.message_count", entries.Count);
        var context = Context(pubsubName, topic, activity ?? current);
        var messages = new List<OutgoingMessage>(entries.Count);
        var sent = new List<string>(entries.Count);
        foreach (var entry in entries)
        {
            // Entry metadata wins over the request's; a merged copy only when both have some.
            var entryMetadata = metadata.Count == 0 ? entry.Metadata : entry.Metadata.Count == 0 ? metadata : Merge(metadata, entry.Metadata);
            try
            {
                var (body, bodyType) = Envelope(entry.Data, entry.ContentType, entryMetadata, context);
                messages.Add(new OutgoingMessage(body, bodyType, entryMetadata));
                sent.Add(entry.EntryId);
            }
            catch (DaprError e)
            {
                failed.Add((entry.EntryId, e.Message));
            }
        }

        IReadOnlyList<Exception?> outcomes;
        try
        {
            outcomes = await pubsub.PublishBatchAsync(topic, messages, ct);
        }
        catch (Exception e) when (e is not (OperationCanceledException or DaprError))
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            var error = DaprError.Publish(topic, pubsubName, e.Message).Message;
            foreach (var id in sent) failed.Add((id, error));
            return failed;
        }
        var published = 0;
        for (var i = 0; i < outcomes.Count; i++)
        {
            if (outcomes[i] is { } problem) failed.Add((sent[i], DaprError.Publish(topic, pubsubName, problem.Message).Message));
            else published++;
        }
        if (published < outcomes.Count) activity?.SetStatus(ActivityStatusCode.Error, $"{outcomes.Count - published} of {outcomes.Count} not confirmed");
        SidecarTelemetry.Published.Add(published, SidecarTelemetry.Tags(pubsubName, topic));
        return failed;
    }

    private static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> request, IReadOnlyDictionary<string, string> entry)
    {
        var merged = new Dictionary<string, string>(request.Count + entry.Count);
        foreach (var (k, v) in request) merged[k] = v;
        foreach (var (k, v) in entry) merged[k] = v;
        return merged;
    }

    // The envelope carries the publish span's context, or the caller's (unsampled) one when there is no span.
    private PublishContext Context(string pubsubName, string topic, Activity? span) =>
        new(options.AppId, pubsubName, topic, span?.Id, span?.TraceStateString);

    private static (ReadOnlyMemory<byte> Body, string ContentType) Envelope(ReadOnlyMemory<byte> data, string? contentType,
        IReadOnlyDictionary<string, string> metadata, PublishContext context)
    {
        // The request's bytes live until the publish returns, which is after the broker confirmed: no copy needed.
        if (metadata.Count > 0 && metadata.TryGetValue("rawPayload", out var raw) && bool.TryParse(raw, out var isRaw) && isRaw)
            return (data, string.IsNullOrEmpty(contentType) ? "application/octet-stream" : contentType);
        if (!CloudEvents.IsCloudEvent(contentType))
            return (CloudEvents.Build(data.Span, contentType, metadata, context), CloudEvents.ContentType);
        try
        {
            return (CloudEvents.FromExisting(data.Span, metadata, context), CloudEvents.ContentType);
        }
        catch (FormatException e)
        {
            throw DaprError.CloudEventsSer(context.Topic, context.PubsubName, e.Message);
        }
    }
}
