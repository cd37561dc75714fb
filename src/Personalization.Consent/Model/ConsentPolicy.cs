using System.Text.Json;
using System.Text.Json.Nodes;
using Personalization.Contracts;

namespace Personalization.Consent.Model;

/// <summary>The answer for one event: allowed, or the first purpose that was not granted.</summary>
public readonly record struct ConsentDecision(bool Allowed, string[] Purposes, string? DeniedPurpose);

/// <summary>
/// Decides whether an event may go on, from the purposes it needs and the user's current consent.
/// <para>Which purposes an event needs, first rule that applies wins:</para>
/// <list type="number">
/// <item><c>properties.purpose</c>: a purpose name, or an array of them (the sender knows best);</item>
/// <item><c>Consent:EventPurposes</c> by track event name (<c>event</c>);</item>
/// <item><c>Consent:TypePurposes</c> by Segment type;</item>
/// <item>otherwise <see cref="Purposes.Analytics"/> (identify, page, screen, track, group and alias alike).</item>
/// </list>
/// An event needing several purposes needs all of them, and every event needs <c>Consent:ProfilePurposes</c> too
/// (default <see cref="Purposes.Personalization"/>): everything after consent builds the profile, and a profile is
/// processing for personalization. A purpose is granted when the user's current consent says so, else by its
/// configured default; a purpose with no default is opt-in (denied).
/// </summary>
public sealed class ConsentPolicy
{
    /// <summary>The purpose reported as denied for an event whose <c>properties.purpose</c> is unreadable.</summary>
    public const string InvalidPurpose = "invalid-purpose";

    private static readonly string[] AnalyticsOnly = [Purposes.Analytics];
    private readonly ConsentOptions _options;

    /// <summary>Per purpose list of the configuration (by reference): it with the profile purposes added.</summary>
    private readonly Dictionary<string[], string[]> _withProfilePurposes = new(ReferenceEqualityComparer.Instance);

    public ConsentPolicy(ConsentOptions options)
    {
        _options = options;
        foreach (var purposes in options.TypePurposes.Values.Concat(options.EventPurposes.Values).Append(AnalyticsOnly))
        {
            _withProfilePurposes.TryAdd(purposes, WithProfilePurposes(purposes));
        }
    }

    public IReadOnlyDictionary<string, ConsentDefault> Defaults => _options.Defaults;

    public string PolicyVersion => _options.PolicyVersion;

    /// <summary>What an opt-out signal (<see cref="SignalSources"/>) denies: purpose → false; empty when it is not configured.</summary>
    public IReadOnlyDictionary<string, bool> SignalDenials(string signal) =>
        _options.Signals.TryGetValue(signal, out var denials) ? denials : NoDenials;

    private static readonly Dictionary<string, bool> NoDenials = [];

    /// <summary>The purposes the event needs; null when its <c>properties.purpose</c> is not a purpose name or an array of them.</summary>
    public string[]? RequiredPurposes(CollectedEvent e)
    {
        if (e.Properties is { } properties && properties.TryGetPropertyValue("purpose", out var declared) && declared is not null)
        {
            return FromDeclared(declared);
        }
        if (e.Type == EventTypes.Track && e.Event is { } name && _options.EventPurposes.TryGetValue(name, out var byName)) return byName;
        if (_options.TypePurposes.TryGetValue(e.Type, out var byType)) return byType;
        return AnalyticsOnly;
    }

    public bool IsGranted(string purpose, ConsentState? state)
    {
        if (state is not null && state.Purposes.TryGetValue(purpose, out var granted)) return granted;
        return _options.Defaults.TryGetValue(purpose, out var byDefault) && byDefault == ConsentDefault.OptOut;
    }

    /// <summary>The decision for an event; its <see cref="ConsentDecision.Purposes"/> are what the event needs, profile purposes included.</summary>
    public ConsentDecision Decide(CollectedEvent e, ConsentState? state)
    {
        // The pipeline's own heartbeat is nobody's data: it needs no consent.
        if (e.ProfileId == Heartbeat.ProfileId) return new ConsentDecision(true, [], null);
        // An unreadable purpose cannot be consented to: the event is denied, never guessed.
        if (RequiredPurposes(e) is not { } required) return new ConsentDecision(false, [], InvalidPurpose);
        var purposes = _withProfilePurposes.TryGetValue(required, out var known) ? known : WithProfilePurposes(required);
        foreach (var purpose in purposes)
        {
            if (!IsGranted(purpose, state)) return new ConsentDecision(false, purposes, purpose);
        }
        return new ConsentDecision(true, purposes, null);
    }

    /// <summary>Consent in force per purpose: the user's explicit choices over the configured defaults.</summary>
    public IReadOnlyDictionary<string, bool> Effective(ConsentState? state)
    {
        var effective = new SortedDictionary<string, bool>(StringComparer.Ordinal);
        foreach (var (purpose, value) in _options.Defaults) effective[purpose] = value == ConsentDefault.OptOut;
        if (state is not null)
        {
            foreach (var (purpose, granted) in state.Purposes) effective[purpose] = granted;
        }
        return effective;
    }

    private string[] WithProfilePurposes(string[] purposes) =>
        _options.ProfilePurposes.All(purposes.Contains) ? purposes : [.. purposes.Union(_options.ProfilePurposes, StringComparer.Ordinal)];

    private static string[]? FromDeclared(JsonNode declared)
    {
        if (declared.GetValueKind() == JsonValueKind.String)
        {
            var one = declared.GetValue<string>();
            return ConsentOptionsValidator.PurposeName().IsMatch(one) ? [one] : null;
        }
        if (declared is JsonArray { Count: > 0 } many)
        {
            var purposes = new string[many.Count];
            for (var i = 0; i < many.Count; i++)
            {
                if (many[i] is not { } item || item.GetValueKind() != JsonValueKind.String) return null;
                var purpose = item.GetValue<string>();
                if (!ConsentOptionsValidator.PurposeName().IsMatch(purpose)) return null;
                purposes[i] = purpose;
            }
            return purposes;
        }
        return null;
    }
}
