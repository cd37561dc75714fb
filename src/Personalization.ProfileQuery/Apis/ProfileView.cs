using System.Text.Json.Nodes;
using Personalization.Contracts;

namespace Personalization.ProfileQuery.Apis;

/// <summary>The user's explicit consent choices, as the consent service stores them (defaults not applied).</summary>
public sealed record ConsentView(IReadOnlyDictionary<string, bool> Purposes, DateTimeOffset UpdatedAt);

/// <summary>
/// What <c>GET /v1/profiles/{userId}</c> answers: the profile without its raw event-time buckets (not even read:
/// <see cref="Extensions.ProfileQueryJsonContext.StoredProfile"/>); windows, RFM,
/// engagement and flags (<see cref="Insights"/>) and segment memberships as of the profile's last change
/// (<c>insights.evaluatedAt</c>). Read by an id merged into another profile, it is that profile (its
/// <see cref="ProfileId"/> says which; <see cref="MergedIds"/> lists the ids merged in).
/// </summary>
public sealed record ProfileView(
    string ProfileId,
    string? UserId,
    IReadOnlyList<string> AnonymousIds,
    IReadOnlyList<string> MergedIds,
    JsonObject Traits,
    IReadOnlyDictionary<string, long> EventCounts,
    long PageViews,
    long ScreenViews,
    long Sessions,
    long TotalEvents,
    DateTimeOffset? FirstSeen,
    DateTimeOffset? LastSeen,
    DeviceContext? LastDevice,
    IReadOnlyList<SessionSummary> RecentSessions,
    PurchaseSummary? Purchases,
    ProfileInsights? Insights,
    IReadOnlyDictionary<string, SegmentMembership> Segments,
    long Version,
    DateTimeOffset UpdatedAt,
    ConsentView? Consent)
{
    /// <summary>The view of a stored profile; null when there is none, or only the empty one created before its first event.</summary>
    public static ProfileView? From(UserProfile? profile, ConsentState? consent)
    {
        if (profile is not { Version: > 0, MergedInto: null }) return null;
        return new ProfileView(
            profile.ProfileId,
            profile.UserId,
            profile.AnonymousIds,
            profile.MergedIds,
            profile.Traits,
            profile.EventCounts,
            profile.PageViews,
            profile.ScreenViews,
            profile.Sessions,
            profile.TotalEvents,
            profile.FirstSeen,
            profile.LastSeen,
            profile.LastDevice,
            profile.RecentSessions,
            profile.Purchases,
            profile.Insights,
            profile.Segments,
            profile.Version,
            profile.UpdatedAt,
            consent is null ? null : new ConsentView(consent.Purposes, consent.UpdatedAt));
    }
}
