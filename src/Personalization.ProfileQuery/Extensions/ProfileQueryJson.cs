using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Personalization.Contracts;
using Personalization.ProfileQuery.Apis;
using Personalization.ProfileQuery.Decisions;
using Personalization.ProfileQuery.Live;

namespace Personalization.ProfileQuery.Extensions;

/// <summary>Source-generated JSON for the read path; camelCase like every payload of the platform.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ConsentState))]
[JsonSerializable(typeof(PipelineHeartbeat))]
[JsonSerializable(typeof(ProfileView))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(ProfileBatchRequest))]
[JsonSerializable(typeof(ProfileBatch))]
[JsonSerializable(typeof(DecideRequest))]
[JsonSerializable(typeof(DecideResponse))]
[JsonSerializable(typeof(Decision))]
[JsonSerializable(typeof(FlagsChange))]
[JsonSerializable(typeof(SegmentsChanged))]
[JsonSerializable(typeof(PlacementCatalog))]
[JsonSerializable(typeof(Placement))]
public sealed partial class ProfileQueryJsonContext : JsonSerializerContext;
