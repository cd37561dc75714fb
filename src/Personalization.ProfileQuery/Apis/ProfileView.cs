using System.Text.Json.Nodes;
using Personalization.Contracts;

namespace Personalization.ProfileQuery.Apis;

/// <summary>The user's explicit consent choices, as the consent service stores them (defaults not applied).</summary>
public sealed record ConsentView(IReadOnlyDictionary<string, bool> Purposes, DateTimeOffset UpdatedAt);

/// <summary>
/// What <c>GET /v1/profiles/{userId}</c> answers: the profile without its raw event-time buckets; windows, RFM,
/// engagement and flags (<see cref="Insights"/>) and segment memberships as of the profile's last change
/// (<c>insights.evaluatedAt</c>).
/// </summary>
public sealed record ProfileView(
    string ProfileId,
    string? UserId,
    IReadOnlyList<string> AnonymousIds,
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
        if (profile is not { Version: > 0 }) return null;
        return new ProfileView(
            profile.ProfileId,
            profile.UserId,
            profile.AnonymousIds,
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
