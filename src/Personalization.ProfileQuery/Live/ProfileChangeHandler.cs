using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.ProfileQuery.Live;

/// <summary>
/// Takes <c>profiles.updated</c> and <c>segments.changed</c> in bulk and hands them to the open streams
/// (<see cref="ProfileStreams"/>): one bulk read per delivery of the watched profiles among them.
/// </summary>
public sealed class ProfileChangeHandler(ProfileStreams streams) : IEventBatchHandler<ProfileUpdated>, IEventBatchHandler<SegmentsChanged>
{
    public Task HandleAsync(IReadOnlyList<Delivery<ProfileUpdated>> deliveries, CancellationToken ct)
    {
        var changed = new Dictionary<string, DateTimeOffset?>(StringComparer.Ordinal);
        foreach (var update in deliveries.SelectMany(d => d.Events))
        {
            changed[update.ProfileId] = update.CausedByReceivedAt;
        }
        return streams.ProfilesChangedAsync(changed, ct);
    }

    public Task HandleAsync(IReadOnlyList<Delivery<SegmentsChanged>> deliveries, CancellationToken ct)
    {
        var changes = deliveries.SelectMany(d => d.Events).ToList();
        streams.SegmentsChanged(changes);
        // A change by time alone (a window passed, a backfill) comes without a profile update: the streams get the profile too.
        return streams.ProfilesChangedAsync(changes.DistinctBy(c => c.ProfileId).ToDictionary(c => c.ProfileId, _ => (DateTimeOffset?)null, StringComparer.Ordinal), ct);
    }
}
