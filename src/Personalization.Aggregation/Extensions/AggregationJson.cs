using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Personalization.Aggregation.IntegrationEvents;
using Personalization.Contracts;

namespace Personalization.Aggregation.Extensions;

/// <summary>Source-generated JSON for the hot path; camelCase like every Dapr payload of the platform.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(EnrichedEvent))]
[JsonSerializable(typeof(UserProfile))]
[JsonSerializable(typeof(ProfileUpdated))]
[JsonSerializable(typeof(SeenMarker))]
[JsonSerializable(typeof(JsonElement))]
public sealed partial class AggregationJsonContext : JsonSerializerContext
{
    /// <summary>The options the DaprClient uses: the generated types first, reflection for anything else.</summary>
    public static JsonSerializerOptions DaprOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = JsonTypeInfoResolver.Combine(Default, new DefaultJsonTypeInfoResolver()),
    };
}
