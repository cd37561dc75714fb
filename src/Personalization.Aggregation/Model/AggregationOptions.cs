using Microsoft.Extensions.Options;

namespace Personalization.Aggregation.Model;

/// <summary>Bound from the <c>Aggregation</c> section.</summary>
public sealed class AggregationOptions
{
    public const string SectionName = "Aggregation";

    /// <summary>
    /// <c>Aggregation:DeduplicationWindow</c>: how long the seen-marker of a folded event lives. A redelivery within
    /// it never counts twice; one later than it would. Default 24:00:00 (Segment's de-duplication window).
    /// </summary>
    public TimeSpan DeduplicationWindow { get; set; } = TimeSpan.FromHours(24);
}

public sealed class AggregationOptionsValidator : IValidateOptions<AggregationOptions>
{
    public ValidateOptionsResult Validate(string? name, AggregationOptions options) =>
        options.DeduplicationWindow < TimeSpan.FromMinutes(1) || options.DeduplicationWindow > TimeSpan.FromDays(30)
            ? ValidateOptionsResult.Fail($"Aggregation:DeduplicationWindow must be 1 minute to 30 days; it is {options.DeduplicationWindow}")
            : ValidateOptionsResult.Success;
}
