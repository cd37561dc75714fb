using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Personalization.Contracts;
using Personalization.ProfileQuery.Apis;

namespace Personalization.ProfileQuery.Extensions;

/// <summary>Source-generated JSON for the read path; camelCase like every payload of the platform.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(UserProfile))]
[JsonSerializable(typeof(ConsentState))]
[JsonSerializable(typeof(PipelineHeartbeat))]
[JsonSerializable(typeof(ProfileView))]
public sealed partial class ProfileQueryJsonContext : JsonSerializerContext
{
    /// <summary>
    /// The stored profile as the read path needs it: without its event-time buckets (<see cref="UserProfile.Activity"/>,
    /// most of its bytes), which the reader skips instead of building.
    /// </summary>
    public static JsonTypeInfo<UserProfile> StoredProfile => s_storedProfile ??= WithoutActivity();

    private static JsonTypeInfo<UserProfile>? s_storedProfile;

    private static JsonTypeInfo<UserProfile> WithoutActivity()
    {
        IJsonTypeInfoResolver generated = Default;
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            TypeInfoResolver = generated.WithAddedModifier(info =>
            {
                if (info.Type == typeof(UserProfile)) info.Properties.Remove(info.Properties.Single(p => p.Name == "activity"));
            }),
        };
        return (JsonTypeInfo<UserProfile>)options.GetTypeInfo(typeof(UserProfile));
    }

    /// <summary>The options the DaprClient uses: the generated types first, reflection for anything else.</summary>
    public static JsonSerializerOptions DaprOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = JsonTypeInfoResolver.Combine(Default, new DefaultJsonTypeInfoResolver()),
    };
}
