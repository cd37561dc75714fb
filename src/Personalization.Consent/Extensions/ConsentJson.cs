using System.Text.Json;
using System.Text.Json.Serialization;

namespace Personalization.Consent.Extensions;

/// <summary>Source-generated JSON for the consent service's own types; the contracts' come from <c>ContractsJsonContext</c>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Apis.ConsentView))]
[JsonSerializable(typeof(Apis.ConsentHistory))]
[JsonSerializable(typeof(Apis.ErasureAccepted))]
[JsonSerializable(typeof(Apis.ProfileExport))]
[JsonSerializable(typeof(Model.ErasureStatus))]
[JsonSerializable(typeof(Data.ErasureResult))]
[JsonSerializable(typeof(Data.SuppressionMarker))]
[JsonSerializable(typeof(Apis.DeadLetterPage))]
[JsonSerializable(typeof(Apis.DeadLetterOutcome))]
[JsonSerializable(typeof(Data.DeadLetter))]
[JsonSerializable(typeof(IReadOnlyList<Contracts.PlanViolation>))]
[JsonSerializable(typeof(Data.QuarantinedEntry))]
[JsonSerializable(typeof(Apis.QuarantinePage))]
[JsonSerializable(typeof(Apis.QuarantineOutcome))]
public sealed partial class ConsentJsonContext : JsonSerializerContext;
