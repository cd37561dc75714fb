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

    /// <summary>
    /// <c>Aggregation:AllowedLateness</c>: how far behind a profile's newest event an event may be and still enter the
    /// windows (day buckets are kept this long); a later one counts in the lifetime counters only. Default 35 days
    /// (the 30-day window, plus the 4 weeks the churn baseline looks back past the last 7 days); 31 to 400 days.
    /// </summary>
    public TimeSpan AllowedLateness { get; set; } = ProfileFolder.DefaultAllowedLateness;

    /// <summary>
    /// <c>Aggregation:EvaluationInterval</c>: how often the profiles due for an evaluation by time alone are evaluated
    /// (<see cref="Data.ProfileReevaluator"/>): one indexed query when none is due. It bounds how late a window, flag or
    /// segment follows the clock. Default 1 minute; 10 seconds to 1 day.
    /// </summary>
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The <c>Aggregation:Flags</c> section.</summary>
    public FlagOptions Flags { get; set; } = new();
}

/// <summary>When the churn-risk and anomaly flags are raised (<see cref="InsightsEvaluator"/>).</summary>
public sealed class FlagOptions
{
    /// <summary><c>ChurnFactor</c>: churn risk when the last 7 days' daily events fall below this share of the baseline. Default 0.25.</summary>
    public double ChurnFactor { get; set; } = 0.25;

    /// <summary><c>ChurnMinBaselineDailyEvents</c>: a baseline below this many events a day is too thin to call churn. Default 2.</summary>
    public double ChurnMinBaselineDailyEvents { get; set; } = 2;

    /// <summary><c>BurstEventsPerMinute</c>: the anomaly flag is raised when one minute of the last hour holds this many events. Default 120.</summary>
    public long BurstEventsPerMinute { get; set; } = 120;
}

public sealed class AggregationOptionsValidator : IValidateOptions<AggregationOptions>
{
    public ValidateOptionsResult Validate(string? name, AggregationOptions options)
    {
        if (options.DeduplicationWindow < TimeSpan.FromMinutes(1) || options.DeduplicationWindow > TimeSpan.FromDays(30))
        {
            return ValidateOptionsResult.Fail($"Aggregation:DeduplicationWindow must be 1 minute to 30 days; it is {options.DeduplicationWindow}");
        }
        if (options.MaxSeenPerProfile is < 100 or > 50_000)
        {
            return ValidateOptionsResult.Fail($"Aggregation:MaxSeenPerProfile must be 100 to 50000; it is {options.MaxSeenPerProfile}");
        }
        if (options.AllowedLateness < TimeSpan.FromDays(31) || options.AllowedLateness > TimeSpan.FromDays(400))
        {
            return ValidateOptionsResult.Fail($"Aggregation:AllowedLateness must be 31 to 400 days; it is {options.AllowedLateness}");
        }
        if (options.EvaluationInterval < TimeSpan.FromSeconds(10) || options.EvaluationInterval > TimeSpan.FromDays(1))
        {
            return ValidateOptionsResult.Fail($"Aggregation:EvaluationInterval must be 10 seconds to 1 day; it is {options.EvaluationInterval}");
        }
        var flags = options.Flags;
        if (flags.ChurnFactor is <= 0 or >= 1 || double.IsNaN(flags.ChurnFactor))
        {
            return ValidateOptionsResult.Fail($"Aggregation:Flags:ChurnFactor must be above 0 and below 1; it is {flags.ChurnFactor}");
        }
        if (flags.ChurnMinBaselineDailyEvents is <= 0 or > 1_000_000 || double.IsNaN(flags.ChurnMinBaselineDailyEvents))
        {
            return ValidateOptionsResult.Fail($"Aggregation:Flags:ChurnMinBaselineDailyEvents must be above 0 and at most 1000000; it is {flags.ChurnMinBaselineDailyEvents}");
        }
        return flags.BurstEventsPerMinute is < 2 or > 1_000_000
            ? ValidateOptionsResult.Fail($"Aggregation:Flags:BurstEventsPerMinute must be 2 to 1000000; it is {flags.BurstEventsPerMinute}")
            : ValidateOptionsResult.Success;
    }
}
