using Personalization.Contracts;

namespace Personalization.Collector.Model;

/// <summary>Where ingestion gets the tracking plans from: compiled, from memory (refreshed in the background of reads).</summary>
public interface ITrackingPlanSource
{
    /// <summary>The current plans. Throws <see cref="EventSinkUnavailableException"/> when they have never been readable.</summary>
    Task<TrackingPlanSet> CurrentAsync(CancellationToken cancellationToken);
}

/// <summary>A plan with its built schema.</summary>
public sealed record CompiledPlan(TrackingPlan Plan, PlanSchema Schema);

/// <summary>An event that broke its plan, and the plan.</summary>
public sealed record PlanBreach(CollectedEvent Event, TrackingPlan Plan, IReadOnlyList<PlanViolation> Violations);

/// <summary>
/// What the plans make of a request's events: those that go on to <see cref="Topics.EventsCollected"/>
/// (<see cref="Passing"/>: conforming, unplanned, and breaking an allow or warn plan), those held back
/// (<see cref="Blocked"/>), and every breach (<see cref="Breaches"/>, in request order); the quarantine gets the warn and
/// block ones (<see cref="ToQuarantine"/>).
/// </summary>
public sealed record PlanCheck(IReadOnlyList<CollectedEvent> Passing, IReadOnlyList<CollectedEvent> Blocked, IReadOnlyList<PlanBreach> Breaches)
{
    public List<QuarantinedEvent> ToQuarantine(DateTimeOffset now)
    {
        var quarantined = new List<QuarantinedEvent>();
        foreach (var breach in Breaches)
        {
            if (breach.Plan.Mode == TrackingPlanModes.Allow) continue;
            quarantined.Add(new QuarantinedEvent(breach.Event, breach.Plan.Id, breach.Plan.Version, breach.Plan.Mode, breach.Violations, now));
        }
        return quarantined;
    }
}

/// <summary>
/// The plans by event type and name, each schema built once. An event's plan is the one naming its type and name
/// (track: <c>event</c>; page, screen: <c>name</c>), else the one of its type without a name; identify and group have
/// only the latter. Alias events have no plan.
/// </summary>
public sealed class TrackingPlanSet
{
    public static readonly TrackingPlanSet Empty = new([]);

    private readonly Dictionary<(string Type, string Event), CompiledPlan> _named = [];
    private readonly Dictionary<string, CompiledPlan> _ofType = new(StringComparer.Ordinal);

    public TrackingPlanSet(IEnumerable<CompiledPlan> plans)
    {
        foreach (var compiled in plans)
        {
            if (compiled.Plan.Event is { } name) _named[(compiled.Plan.Type, name)] = compiled;
            else _ofType[compiled.Plan.Type] = compiled;
        }
    }

    public int Count => _named.Count + _ofType.Count;

    public CompiledPlan? For(CollectedEvent e)
    {
        var name = e.Type switch
        {
            EventTypes.Track => e.Event,
            EventTypes.Page or EventTypes.Screen => e.Name,
            _ => null,
        };
        if (name is not null && _named.TryGetValue((e.Type, name), out var named)) return named;
        return _ofType.GetValueOrDefault(e.Type);
    }

    /// <summary>Checks every event against its plan. With no plans, the events pass as they are (no allocation).</summary>
    public PlanCheck Check(IReadOnlyList<CollectedEvent> events)
    {
        if (Count == 0) return new PlanCheck(events, [], []);
        List<CollectedEvent>? passing = null, blocked = null;
        List<PlanBreach>? breaches = null;
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            if (For(e) is not { } compiled)
            {
                passing?.Add(e);
                continue;
            }
            var part = TrackingPlan.PartOf(e.Type);
            var violations = compiled.Schema.Evaluate(part == "traits" ? e.Traits : e.Properties, part);
            if (violations.Count == 0)
            {
                passing?.Add(e);
                continue;
            }
            (breaches ??= []).Add(new PlanBreach(e, compiled.Plan, violations));
            if (compiled.Plan.Mode == TrackingPlanModes.Block)
            {
                passing ??= [.. events.Take(i)];
                (blocked ??= []).Add(e);
            }
            else
            {
                passing?.Add(e);
            }
        }
        return new PlanCheck(passing ?? events, blocked ?? [], breaches ?? []);
    }
}
