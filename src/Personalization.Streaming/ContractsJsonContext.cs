using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Personalization.Contracts;

namespace Personalization.Streaming;

/// <summary>Source-generated JSON for the contracts, camelCase like every Dapr payload of the platform.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(CollectedEvent))]
[JsonSerializable(typeof(CollectedEventBatch))]
[JsonSerializable(typeof(EnrichedEvent))]
[JsonSerializable(typeof(EnrichedEventBatch))]
[JsonSerializable(typeof(UserProfile))]
[JsonSerializable(typeof(ProfileUpdated))]
[JsonSerializable(typeof(ProfileUpdateBatch))]
[JsonSerializable(typeof(SegmentsChanged))]
[JsonSerializable(typeof(SegmentsChangedBatch))]
[JsonSerializable(typeof(ConsentState))]
[JsonSerializable(typeof(ConsentChanged))]
[JsonSerializable(typeof(QuarantinedEvent))]
[JsonSerializable(typeof(QuarantinedEventBatch))]
[JsonSerializable(typeof(PipelineHeartbeat))]
[JsonSerializable(typeof(RetryRecord))]
[JsonSerializable(typeof(BulkAnswer))]
[JsonSerializable(typeof(JsonElement))]
public sealed partial class ContractsJsonContext : JsonSerializerContext
{
    /// <summary>
    /// Options for a service's DaprClient and HTTP JSON: the service's own generated types, then the contracts, then
    /// reflection for anything else.
    /// </summary>
    public static JsonSerializerOptions OptionsWith(IJsonTypeInfoResolver? own = null) => new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = own is null
            ? JsonTypeInfoResolver.Combine(Default, new DefaultJsonTypeInfoResolver())
            : JsonTypeInfoResolver.Combine(own, Default, new DefaultJsonTypeInfoResolver()),
    };
}

/// <summary>The answer to a bulk delivery: one status per entry (SUCCESS, RETRY or DROP), as Dapr expects it.</summary>
public sealed record BulkAnswer(IReadOnlyList<BulkAnswerEntry> Statuses);

public sealed record BulkAnswerEntry(string EntryId, string Status);
