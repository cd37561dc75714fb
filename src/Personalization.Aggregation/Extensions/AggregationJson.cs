using System.Text.Json;
using System.Text.Json.Serialization;
using Personalization.Aggregation.Data;
using Personalization.Aggregation.Model;

namespace Personalization.Aggregation.Extensions;

/// <summary>Source-generated JSON for the aggregation service's own state; the contracts' come from <c>ContractsJsonContext</c>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SeenSet))]
[JsonSerializable(typeof(SegmentCatalog))]
[JsonSerializable(typeof(BackfillStatus))]
[JsonSerializable(typeof(Apis.SegmentView))]
[JsonSerializable(typeof(Apis.SegmentList))]
[JsonSerializable(typeof(Apis.SegmentMembers))]
public sealed partial class AggregationJsonContext : JsonSerializerContext;
