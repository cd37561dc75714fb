using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Personalization.Contracts;

namespace Personalization.Consent.Extensions;

/// <summary>Source-generated JSON for the types on the hot path; camelCase like every Dapr payload of the platform.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(CollectedEvent))]
[JsonSerializable(typeof(ConsentState))]
[JsonSerializable(typeof(ConsentChanged))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(Apis.ConsentView))]
public sealed partial class ConsentJsonContext : JsonSerializerContext
{
    /// <summary>The options the DaprClient uses: the generated contracts first, reflection for anything else.</summary>
    public static JsonSerializerOptions DaprOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = JsonTypeInfoResolver.Combine(Default, new DefaultJsonTypeInfoResolver()),
    };
}
