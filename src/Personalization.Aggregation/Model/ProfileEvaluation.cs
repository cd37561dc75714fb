using Personalization.Contracts;

namespace Personalization.Aggregation.Model;

/// <summary>
/// Evaluates a profile at a moment: its <see cref="ProfileInsights"/> (<see cref="InsightsEvaluator"/>), then every
/// segment's rule against the profile with those insights. Pure. A profile enters a segment when the rule starts to
/// hold (membership since now, with the reason it holds) and leaves it when the rule stops holding or the segment is
/// deleted; a member stays a member, with its first reason and entry time, while the rule holds, also across a change
/// of the definition. Order of events does not matter here: the fold gives the same profile for any order, and this
/// evaluates the profile, not the events.
/// </summary>
public static class ProfileEvaluation
{
    public const string DeletedReason = "the segment was deleted";

    public static (UserProfile Profile, SegmentsChanged? Changes) Apply(
        UserProfile profile, IReadOnlyList<CompiledSegment> segments, FlagOptions flags, DateTimeOffset now)
    {
        var evaluated = profile with { Insights = InsightsEvaluator.Evaluate(profile, profile.Insights, flags, now) };
        var memberships = new Dictionary<string, SegmentMembership>(StringComparer.Ordinal);
        var entered = new List<SegmentChange>();
        var exited = new List<SegmentChange>();
        foreach (var (definition, rule) in segments)
        {
            var current = profile.Segments.GetValueOrDefault(definition.Id);
            if (rule.Evaluate(evaluated) is { } reason)
            {
                if (current is null) entered.Add(new SegmentChange(definition.Id, definition.Name, reason));
                memberships[definition.Id] = current is null
                    ? new SegmentMembership(definition.Name, now, reason, definition.Version)
                    : current with { Name = definition.Name, DefinitionVersion = definition.Version };
            }
            else if (current is not null)
            {
                exited.Add(new SegmentChange(definition.Id, definition.Name, $"no longer holds: {rule.Describe()}"));
            }
        }
        foreach (var (id, membership) in profile.Segments)
        {
            if (!segments.Any(s => s.Definition.Id == id)) exited.Add(new SegmentChange(id, membership.Name, DeletedReason));
        }
        var changes = entered.Count + exited.Count == 0 ? null : new SegmentsChanged(profile.ProfileId, entered, exited, now);
        return (evaluated with { Segments = memberships }, changes);
    }
}
