using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Personalization.Contracts;

namespace Personalization.ProfileQuery.Apis;

/// <summary>The user's explicit consent choices, as the consent service stores them (defaults not applied).</summary>
public sealed record ConsentView(IReadOnlyDictionary<string, bool> Purposes, DateTimeOffset UpdatedAt);

/// <summary>
/// What <c>GET /v1/profiles/{userId}</c> answers: the stored profile (<see cref="UserProfile"/>) without its raw
/// event-time buckets, read straight from the stored JSON (the buckets, most of its bytes, are skipped, never built);
/// windows, RFM, engagement and flags (<see cref="Insights"/>) and segment memberships as of the profile's last change
/// (<c>insights.evaluatedAt</c>). Read by an id merged into another profile, it is that profile (its
/// <see cref="ProfileId"/> says which; <see cref="MergedIds"/> lists the ids merged in).
/// <para>It repeats <see cref="UserProfile"/>'s members on purpose: it is the read shape of the same JSON, and reading
/// into it leaves the buckets unbuilt. (Dropping <c>activity</c> from UserProfile's generated contract instead fails:
/// its required members are bound through a constructor that then misses a member.)</para>
/// </summary>
public sealed record ProfileView
{
    public required string ProfileId { get; init; }
    public string? UserId { get; init; }
    public IReadOnlyList<string> AnonymousIds { get; init; } = [];
    public IReadOnlyList<string> MergedIds { get; init; } = [];
    public JsonObject Traits { get; init; } = [];
    public IReadOnlyDictionary<string, long> EventCounts { get; init; } = new Dictionary<string, long>();
    public long PageViews { get; init; }
    public long ScreenViews { get; init; }
    public long Sessions { get; init; }
    public long TotalEvents { get; init; }
    public DateTimeOffset? FirstSeen { get; init; }
    public DateTimeOffset? LastSeen { get; init; }
    public DeviceContext? LastDevice { get; init; }
    public IReadOnlyList<SessionSummary> RecentSessions { get; init; } = [];
    public PurchaseSummary? Purchases { get; init; }
    public ProfileInsights? Insights { get; init; }
    public IReadOnlyDictionary<string, SegmentMembership> Segments { get; init; } = new Dictionary<string, SegmentMembership>();
    public long Version { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>The user's consent choices; not in the stored profile, added from the consent key.</summary>
    public ConsentView? Consent { get; init; }

    /// <summary>Set on what stays under a merged id (see <see cref="UserProfile.MergedInto"/>): such a view is never answered.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? MergedInto { get; init; }

    /// <summary>Whether this is a profile to answer: not the empty one created before its first event, not a redirect.</summary>
    [JsonIgnore]
    public bool IsAnswer => Version > 0 && MergedInto is null;
}
