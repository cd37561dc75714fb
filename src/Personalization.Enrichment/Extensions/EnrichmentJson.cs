using System.Text.Json;
using System.Text.Json.Serialization;
using Personalization.Enrichment.Model;

namespace Personalization.Enrichment.Extensions;

/// <summary>Source-generated JSON for the enrichment service's own state; the contracts' come from <c>ContractsJsonContext</c>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SessionState))]
public sealed partial class EnrichmentJsonContext : JsonSerializerContext;
