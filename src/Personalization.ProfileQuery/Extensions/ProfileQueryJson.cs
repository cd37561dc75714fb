using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Personalization.Contracts;
using Personalization.ProfileQuery.Apis;

namespace Personalization.ProfileQuery.Extensions;

/// <summary>Source-generated JSON for the read path; camelCase like every payload of the platform.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ConsentState))]
[JsonSerializable(typeof(PipelineHeartbeat))]
[JsonSerializable(typeof(ProfileView))]
public sealed partial class ProfileQueryJsonContext : JsonSerializerContext
{
    /// <summary>The options the DaprClient uses: the generated types first, reflection for anything else.</summary>
    public static JsonSerializerOptions DaprOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = JsonTypeInfoResolver.Combine(Default, new DefaultJsonTypeInfoResolver()),
    };
}
