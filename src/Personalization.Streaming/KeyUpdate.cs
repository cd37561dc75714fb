using Dapr.Client;

namespace Personalization.Streaming;

/// <summary>What the state store holds under a key: its JSON (null when absent) and its etag (null when absent).</summary>
public readonly record struct Stored(string? Json, string? ETag);

/// <summary>
/// An etag-guarded read-modify-write of one key, planned from what the store holds; run with others by
/// <see cref="StateBatch.UpdateAsync"/>. <see cref="Plan"/> may be called more than once (after a conflict, with what
/// the store holds then), so it must derive everything it decides from its inputs and overwrite, not add to, any
/// result it keeps.
/// </summary>
public abstract class KeyUpdate(string key)
{
    public string Key { get; } = key;

    /// <summary>Other keys the plan reads (without guarding them), such as seen-markers.</summary>
    public virtual IReadOnlyList<string> AlsoRead => [];

    /// <summary>
    /// The operations to write; empty when nothing changes. <paramref name="others"/> holds the <see cref="AlsoRead"/>
    /// keys found, with their etags, so a plan may also guard a write of one of them (<see cref="Write(string, Stored, byte[], IReadOnlyDictionary{string, string}?)"/>).
    /// </summary>
    public abstract IReadOnlyList<StateTransactionRequest> Plan(Stored stored, IReadOnlyDictionary<string, Stored> others);

    /// <summary>Why the update gave up, when it did; its events must then be retried.</summary>
    public string? Failure { get; internal set; }

    /// <summary>
    /// The guarded write of <see cref="Key"/>: against the etag read, or, when the key was absent, first-write (so of two
    /// writers creating it at once only one wins, and the other's whole transaction is refused).
    /// </summary>
    protected StateTransactionRequest Write(Stored stored, byte[] value, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(Key, stored, value, metadata);

    /// <summary>The same guarded write, of another key the plan read (<see cref="AlsoRead"/>).</summary>
    protected static StateTransactionRequest Write(string key, Stored stored, byte[] value, IReadOnlyDictionary<string, string>? metadata = null) =>
        stored.ETag is { Length: > 0 } etag
            ? new StateTransactionRequest(key, value, StateOperationType.Upsert, etag, metadata)
            : new StateTransactionRequest(key, value, StateOperationType.Upsert, metadata: metadata, options: FirstWrite);

    private static readonly StateOptions FirstWrite = new() { Concurrency = ConcurrencyMode.FirstWrite };
}
