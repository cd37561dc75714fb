using Dapr.Client;
using Personalization.Aggregation.Model;
using Personalization.Streaming;

namespace Personalization.Aggregation.Data;

/// <summary>
/// The segment definitions, one <see cref="SegmentCatalog"/> in the record store under <see cref="SegmentCatalog.Key"/>.
/// Every delivery of events is evaluated against <c>CurrentAsync</c> (compiled, refreshed every
/// <c>RefreshInterval</c>); the backfill a change starts covers profiles folded meanwhile.
/// </summary>
public sealed class SegmentStore(DaprClient dapr, TimeProvider clock)
    : RecordDocument<SegmentCatalog, IReadOnlyList<CompiledSegment>>(dapr, clock, SegmentCatalog.Key, SegmentCatalog.Empty, CompiledSegment.Compile);
