using System.Text.Json;
using System.Text.Json.Serialization;

namespace Personalization.Consent.Extensions;

/// <summary>Source-generated JSON for the consent service's own types; the contracts' come from <c>ContractsJsonContext</c>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Apis.ConsentView))]
public sealed partial class ConsentJsonContext : JsonSerializerContext;
