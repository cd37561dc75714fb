using Dapr.Client;
using Personalization.Streaming;

namespace Personalization.ProfileQuery.Decisions;

/// <summary>
/// The placements, one <see cref="PlacementCatalog"/> in the record store under <see cref="PlacementCatalog.Key"/>;
/// decisions read <c>CurrentAsync</c> (by id, refreshed every <c>RefreshInterval</c>), so deciding costs no store read.
/// </summary>
public sealed class PlacementStore(DaprClient dapr, TimeProvider clock)
    : RecordDocument<PlacementCatalog, IReadOnlyDictionary<string, Placement>>(dapr, clock, PlacementCatalog.Key, PlacementCatalog.Empty,
        catalog => catalog.Placements.ToDictionary(p => p.Id, StringComparer.Ordinal));
