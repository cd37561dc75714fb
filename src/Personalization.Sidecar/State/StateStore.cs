namespace Personalization.Sidecar.State;

/// <summary>A stored value and its ETag (as the store gives it: Redis a version number, PostgreSQL a uuid).</summary>
public sealed record StateEntry(ReadOnlyMemory<byte> Data, string ETag, IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>A write; <see cref="FirstWrite"/> is Dapr's first-write concurrency, <see cref="LastWrite"/> an explicit last-write.</summary>
public sealed record StateSet(string Key, ReadOnlyMemory<byte> Value, string? ETag, StateConcurrency Concurrency, IReadOnlyDictionary<string, string> Metadata);

public sealed record StateDelete(string Key, string? ETag, StateConcurrency Concurrency, IReadOnlyDictionary<string, string> Metadata);

public enum StateConcurrency { Unspecified, FirstWrite, LastWrite }

/// <summary>The ETag given does not match the stored one (gRPC ABORTED, HTTP 409).</summary>
public sealed class ETagMismatchException(string key) : Exception($"possible etag mismatch for key '{key}'");

/// <summary>The ETag given cannot be an ETag of this store (gRPC INVALID_ARGUMENT, HTTP 400).</summary>
public sealed class ETagInvalidException(string key, string etag) : Exception($"invalid etag value '{etag}' for key '{key}'");

/// <summary>
/// A Dapr state store component. Keys arrive already prefixed (see <see cref="StateKeys"/>), exactly as daprd hands
/// them to components-contrib, so both write the same stored keys.
/// </summary>
public interface IStateStore : IAsyncDisposable
{
    string Name { get; }
    Task<StateEntry?> GetAsync(string key, CancellationToken ct);
    Task<IReadOnlyList<StateEntry?>> GetBulkAsync(IReadOnlyList<string> keys, CancellationToken ct);
    Task SetAsync(StateSet request, CancellationToken ct);
    Task DeleteAsync(StateDelete request, CancellationToken ct);
    /// <summary>Applies every operation (a <see cref="StateSet"/> or <see cref="StateDelete"/>) atomically, or none.</summary>
    Task TransactAsync(IReadOnlyList<object> operations, CancellationToken ct);
}

/// <summary>daprd's state key prefixing, decided by the component's <c>keyPrefix</c> metadata.</summary>
public sealed class StateKeys(string storeName, string appId, string keyPrefix)
{
    public const string Separator = "||";
    private readonly string? _prefix = keyPrefix.ToLowerInvariant() switch
    {
        "" or "appid" => appId,
        "name" => storeName,
        "none" => null,
        _ => keyPrefix,
    };

    /// <summary>The key the store holds; throws <see cref="ArgumentException"/> for keys daprd also refuses.</summary>
    public string ToStored(string key)
    {
        if (string.IsNullOrEmpty(key)) throw new ArgumentException("key is empty");
        if (_prefix is null) return key;
        if (key.Contains(Separator, StringComparison.Ordinal))
            throw new ArgumentException($"input key/keyPrefix '{key}' can't contain '{Separator}'");
        return _prefix + Separator + key;
    }

    public string FromStored(string stored) =>
        _prefix is not null && stored.StartsWith(_prefix + Separator, StringComparison.Ordinal) ? stored[(_prefix.Length + 2)..] : stored;
}

/// <summary>Metadata keys shared by the stores.</summary>
public static class StateMetadata
{
    public const string TtlInSeconds = "ttlInSeconds";

    /// <summary>The per-request TTL; null when not given. Throws <see cref="ArgumentException"/> when not a number.</summary>
    public static int? Ttl(IReadOnlyDictionary<string, string> metadata) =>
        metadata.TryGetValue(TtlInSeconds, out var v) && v.Length > 0
            ? int.TryParse(v, out var ttl) ? ttl : throw new ArgumentException($"ttlInSeconds '{v}' is not a whole number")
            : null;
}
