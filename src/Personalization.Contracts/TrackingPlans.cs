namespace Personalization.Contracts;

/// <summary>What a tracking plan does with an event that breaks its schema.</summary>
public static class TrackingPlanModes
{
    /// <summary>The event goes on; the violation is only counted.</summary>
    public const string Allow = "allow";

    /// <summary>The event goes on, and a copy of it is quarantined with its violations.</summary>
    public const string Warn = "warn";

    /// <summary>The event is quarantined instead of going on.</summary>
    public const string Block = "block";
}

/// <summary>
/// One way an event breaks its plan's schema: where in the event (<paramref name="Path"/>, a JSON Pointer such as
/// <c>/properties/total</c>), the schema keyword that failed (<paramref name="Rule"/>, e.g. <c>type</c>, <c>required</c>),
/// what it says, and where that keyword sits in the schema (<paramref name="SchemaPath"/>).
/// </summary>
public sealed record PlanViolation(string Path, string Rule, string Message, string SchemaPath);

/// <summary>
/// An event that broke its tracking plan, as the collector publishes it on <see cref="Topics.EventsQuarantined"/>:
/// the event as it would have been published on <see cref="Topics.EventsCollected"/>, the plan and its version, the
/// plan's mode (<see cref="TrackingPlanModes.Warn"/>: the event went on as well; <see cref="TrackingPlanModes.Block"/>:
/// it did not), and the violations.
/// </summary>
public sealed record QuarantinedEvent(
    CollectedEvent Event, string PlanId, int PlanVersion, string Mode, IReadOnlyList<PlanViolation> Violations, DateTimeOffset QuarantinedAt);

/// <summary>The quarantined events of one request, one broker message.</summary>
public sealed record QuarantinedEventBatch(IReadOnlyList<QuarantinedEvent> Events);
