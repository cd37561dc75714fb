using Personalization.Contracts;

namespace Personalization.Aggregation.Model;

/// <summary>The value of a <see cref="StateKeys.Seen"/> marker: which profile version the event was folded into.</summary>
public sealed record SeenMarker(long Version, DateTimeOffset UpdatedAt);
