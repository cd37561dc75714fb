using System.Text.Json.Nodes;
using Personalization.Consent.Model;
using Personalization.Contracts;

namespace Personalization.Consent.Tests;

public sealed class ConsentPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static CollectedEvent Event(string type = EventTypes.Track, string? name = "Clicked", JsonObject? properties = null) => new()
    {
        Type = type,
        MessageId = "m1",
        UserId = "u1",
        Event = name,
        Properties = properties,
        Timestamp = Now,
        ReceivedAt = Now,
    };

    private static ConsentState Consent(params (string Purpose, bool Granted)[] purposes) =>
        new("u1", purposes.ToDictionary(p => p.Purpose, p => p.Granted), Now);

    private static ConsentPolicy Policy(Action<ConsentOptions>? configure = null)
    {
        var options = new ConsentOptions();
        configure?.Invoke(options);
        return new ConsentPolicy(options);
    }

    [Fact]
    public void TrackEventNeedsAnalyticsByDefault() =>
        Assert.Equal([Purposes.Analytics], Policy().RequiredPurposes(Event())!);

    [Theory]
    [InlineData(EventTypes.Identify)]
    [InlineData(EventTypes.Page)]
    [InlineData(EventTypes.Screen)]
    public void IdentifyPageAndScreenNeedAnalyticsByDefault(string type) =>
        Assert.Equal([Purposes.Analytics], Policy().RequiredPurposes(Event(type, name: null))!);

    [Fact]
    public void EventWithoutConsentForItsPurposeIsDenied()
    {
        var decision = Policy().Decide(Event(), Consent((Purposes.Analytics, false)));
        Assert.False(decision.Allowed);
        Assert.Equal(Purposes.Analytics, decision.DeniedPurpose);
    }

    [Fact]
    public void EventWithConsentForItsPurposeIsAllowed()
    {
        var decision = Policy(o => o.Defaults[Purposes.Analytics] = ConsentDefault.OptIn).Decide(Event(), Consent((Purposes.Analytics, true)));
        Assert.True(decision.Allowed);
        Assert.Null(decision.DeniedPurpose);
    }

    [Fact]
    public void OptOutPurposeIsGrantedWhileTheUserSaidNothing() =>
        Assert.True(Policy(o => o.Defaults[Purposes.Analytics] = ConsentDefault.OptOut).Decide(Event(), null).Allowed);

    [Fact]
    public void OptInPurposeIsDeniedWhileTheUserSaidNothing() =>
        Assert.False(Policy(o => o.Defaults[Purposes.Analytics] = ConsentDefault.OptIn).Decide(Event(), null).Allowed);

    [Fact]
    public void PurposeWithoutAConfiguredDefaultIsDeniedUntilGranted()
    {
        var policy = Policy(o => o.Defaults.Clear());
        Assert.False(policy.IsGranted("research", null));
        Assert.True(policy.IsGranted("research", Consent(("research", true))));
    }

    [Fact]
    public void PropertiesPurposeOverridesTheConfiguredMapping()
    {
        var policy = Policy(o => o.EventPurposes["Clicked"] = [Purposes.Personalization]);
        var e = Event(properties: new JsonObject { ["purpose"] = Purposes.Marketing });
        Assert.Equal([Purposes.Marketing], policy.RequiredPurposes(e)!);
        Assert.False(policy.Decide(e, null).Allowed); // marketing is opt-in by default
    }

    [Fact]
    public void ConfiguredEventNameMappingOverridesTheTypeMapping()
    {
        var policy = Policy(o =>
        {
            o.TypePurposes[EventTypes.Track] = [Purposes.Analytics];
            o.EventPurposes["Coupon Applied"] = [Purposes.Marketing];
        });
        Assert.Equal([Purposes.Marketing], policy.RequiredPurposes(Event(name: "Coupon Applied"))!);
        Assert.Equal([Purposes.Analytics], policy.RequiredPurposes(Event(name: "Clicked"))!);
    }

    [Fact]
    public void EventNeedingSeveralPurposesNeedsAllOfThem()
    {
        var e = Event(properties: new JsonObject { ["purpose"] = new JsonArray("analytics", "marketing") });
        var policy = Policy();
        var partly = policy.Decide(e, Consent((Purposes.Analytics, true), (Purposes.Marketing, false)));
        Assert.False(partly.Allowed);
        Assert.Equal(Purposes.Marketing, partly.DeniedPurpose);
        Assert.True(policy.Decide(e, Consent((Purposes.Analytics, true), (Purposes.Marketing, true))).Allowed);
    }

    [Fact]
    public void EventWithAnUnreadablePurposeIsDeniedNotGuessed()
    {
        var decision = Policy().Decide(Event(properties: new JsonObject { ["purpose"] = 42 }), Consent((Purposes.Analytics, true)));
        Assert.False(decision.Allowed);
        Assert.Equal(ConsentPolicy.InvalidPurpose, decision.DeniedPurpose);
    }

    [Fact]
    public void UsersChoiceOverridesTheDefault()
    {
        var policy = Policy();
        Assert.False(policy.Decide(Event(), Consent((Purposes.Analytics, false))).Allowed);
        Assert.True(policy.Decide(Event(properties: new JsonObject { ["purpose"] = "marketing" }), Consent((Purposes.Marketing, true))).Allowed);
    }

    [Fact]
    public void EffectiveConsentAppliesDefaultsUnderTheUsersChoices()
    {
        var effective = Policy().Effective(Consent((Purposes.Marketing, true), (Purposes.Analytics, false)));
        Assert.False(effective[Purposes.Analytics]);
        Assert.True(effective[Purposes.Marketing]);
        Assert.True(effective[Purposes.Personalization]);
    }

    [Fact]
    public void EveryEventAlsoNeedsTheProfilePurposesAndCarriesThem()
    {
        var decision = Policy().Decide(Event(), null);
        Assert.True(decision.Allowed);
        Assert.Equal([Purposes.Analytics, Purposes.Personalization], decision.Purposes);
    }

    [Fact]
    public void RevokedPersonalizationStopsEventsThatOnlyNeedAnalytics()
    {
        var decision = Policy().Decide(Event(), Consent((Purposes.Analytics, true), (Purposes.Personalization, false)));
        Assert.False(decision.Allowed);
        Assert.Equal(Purposes.Personalization, decision.DeniedPurpose);
    }

    [Fact]
    public void WithoutProfilePurposesAnEventNeedsOnlyItsOwn()
    {
        var decision = Policy(o => o.ProfilePurposes = []).Decide(Event(), Consent((Purposes.Personalization, false)));
        Assert.True(decision.Allowed);
        Assert.Equal([Purposes.Analytics], decision.Purposes);
    }

    [Fact]
    public void SignalsDenyWhatTheyAreMappedTo()
    {
        var policy = Policy(o => o.Signals["gpc"] = new() { ["marketing"] = false, ["sale"] = false });
        Assert.Equal(new Dictionary<string, bool> { ["marketing"] = false, ["sale"] = false }, policy.SignalDenials("gpc"));
        Assert.Empty(policy.SignalDenials("dnt"));
    }
}
