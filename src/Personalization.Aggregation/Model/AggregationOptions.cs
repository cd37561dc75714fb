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

    /// <summary>
    /// <c>Aggregation:MaxSeenPerProfile</c>: at most this many message ids are remembered per profile within the window
    /// (the newest); about 50 bytes each. Default 20,000: a profile with more events than that in a day is a bot.
    /// </summary>
    public int MaxSeenPerProfile { get; set; } = 20_000;
}

public sealed class AggregationOptionsValidator : IValidateOptions<AggregationOptions>
{
    public ValidateOptionsResult Validate(string? name, AggregationOptions options)
    {
        if (options.DeduplicationWindow < TimeSpan.FromMinutes(1) || options.DeduplicationWindow > TimeSpan.FromDays(30))
        {
            return ValidateOptionsResult.Fail($"Aggregation:DeduplicationWindow must be 1 minute to 30 days; it is {options.DeduplicationWindow}");
        }
        return options.MaxSeenPerProfile is < 100 or > 50_000
            ? ValidateOptionsResult.Fail($"Aggregation:MaxSeenPerProfile must be 100 to 50000; it is {options.MaxSeenPerProfile}")
            : ValidateOptionsResult.Success;
    }
}
