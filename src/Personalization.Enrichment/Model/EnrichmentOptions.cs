using System.Net;
using Microsoft.Extensions.Options;

namespace Personalization.Enrichment.Model;

/// <summary>Bound from the <c>Enrichment</c> section.</summary>
public sealed class EnrichmentOptions
{
    public const string SectionName = "Enrichment";

    /// <summary><c>Enrichment:SessionTimeout</c>: inactivity (event time) that ends a session. Default 00:30:00.</summary>
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// <c>Enrichment:RememberedMessages</c>: message ids per profile kept to answer redeliveries alike. Default 16.
    /// Each costs about 190 bytes of session state, read and written with every delivery that touches the profile; a
    /// redelivery comes within seconds, before a user sends 16 more events. A redelivery older than that gets a fresh
    /// answer, and the aggregation's seen-markers still count its event once.
    /// </summary>
    public int RememberedMessages { get; set; } = 16;

    /// <summary><c>Enrichment:GeoNetworks</c>: networks with a known place, matched against <c>context.ip</c>.</summary>
    public List<GeoNetwork> GeoNetworks { get; set; } = [];

    /// <summary>
    /// <c>Enrichment:GeoDatabase</c>: a MaxMind DB file (<c>.mmdb</c>), or a folder whose every <c>.mmdb</c> is read, that
    /// places <c>context.ip</c> when neither <c>context.location</c> nor a configured network does; relative to the
    /// service's folder. The build puts the GeoLite2 City database in <c>geo</c>. Empty: no database lookup. Set but
    /// missing: the service does not start.
    /// </summary>
    public string? GeoDatabase { get; set; }

    /// <summary><c>Enrichment:Bots</c>: bot detection by user agent and by rate.</summary>
    public BotOptions Bots { get; set; } = new();

    /// <summary><c>Enrichment:ProfileTraits</c>: the profile's current traits on each event.</summary>
    public ProfileTraitsOptions ProfileTraits { get; set; } = new();

    /// <summary><c>Enrichment:Provider</c>: a third-party HTTP enrichment provider, called once per delivery.</summary>
    public ProviderOptions Provider { get; set; } = new();
}

/// <summary>Bound from <c>Enrichment:ProfileTraits</c>.</summary>
public sealed class ProfileTraitsOptions
{
    /// <summary>
    /// <c>Enrichment:ProfileTraits:Enabled</c>: read each profile's materialized profile in the same bulk get as its session
    /// and put its traits on the events. Default true.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary><c>Enrichment:ProfileTraits:Names</c>: the traits to add (top-level names); empty: all of them.</summary>
    public List<string> Names { get; set; } = [];
}

/// <summary>Bound from <c>Enrichment:Provider</c>.</summary>
public sealed class ProviderOptions
{
    /// <summary><c>Enrichment:Provider:Url</c>: where the events of a delivery are POSTed. Empty: no provider.</summary>
    public Uri? Url { get; set; }

    /// <summary>
    /// <c>Enrichment:Provider:Fields</c>: what of each event is sent, as dotted paths of the event's JSON (the message id
    /// always is): <c>userId</c>, <c>anonymousId</c>, <c>type</c>, <c>event</c>, <c>name</c>, <c>source</c>, or a path
    /// into <c>context</c>, <c>properties</c> or <c>traits</c> such as <c>context.ip</c>. None configured: <c>context.ip</c>.
    /// Send a third party no more than it needs.
    /// </summary>
    public List<string> Fields { get; set; } = [];

    /// <summary><see cref="Fields"/>, or <c>context.ip</c> when none are configured.</summary>
    public IReadOnlyList<string> EffectiveFields => Fields.Count > 0 ? Fields : DefaultFields;

    private static readonly string[] DefaultFields = ["context.ip"];

    /// <summary><c>Enrichment:Provider:Timeout</c>: the whole call, retries included. Default 00:00:02.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary><c>Enrichment:Provider:AttemptTimeout</c>: one attempt. Default 00:00:01.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary><c>Enrichment:Provider:Retries</c>: attempts after the first on a transient failure (5xx, 408, 429, timeout). Default 1.</summary>
    public int Retries { get; set; } = 1;

    /// <summary>
    /// <c>Enrichment:Provider:BreakDuration</c>: how long the circuit stays open once at least half of the last 30 s of
    /// calls (and at least <see cref="MinimumThroughput"/>) failed; meanwhile no call is made. Default 00:00:30.
    /// </summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary><c>Enrichment:Provider:MinimumThroughput</c>: calls in the sampling window before the circuit may open. Default 5.</summary>
    public int MinimumThroughput { get; set; } = 5;

    /// <summary><c>Enrichment:Provider:MaxEventsPerCall</c>: a delivery with more events is sent in several calls, at once. Default 500.</summary>
    public int MaxEventsPerCall { get; set; } = 500;
}

public sealed class EnrichmentOptionsValidator : IValidateOptions<EnrichmentOptions>
{
    public ValidateOptionsResult Validate(string? name, EnrichmentOptions options)
    {
        var failures = new List<string>();
        if (options.SessionTimeout <= TimeSpan.Zero || options.SessionTimeout > TimeSpan.FromDays(1))
        {
            failures.Add($"Enrichment:SessionTimeout must be above zero and at most a day; it is {options.SessionTimeout}");
        }
        if (options.RememberedMessages is < 1 or > 1024)
        {
            failures.Add($"Enrichment:RememberedMessages must be 1 to 1024; it is {options.RememberedMessages}");
        }
        for (var i = 0; i < options.GeoNetworks.Count; i++)
        {
            if (!IPNetwork.TryParse(options.GeoNetworks[i].Cidr, out _))
            {
                failures.Add($"Enrichment:GeoNetworks:{i}:Cidr '{options.GeoNetworks[i].Cidr}' is not a network in CIDR notation");
            }
        }
        if (!string.IsNullOrWhiteSpace(options.GeoDatabase) && GeoDatabase.Problem(options.GeoDatabase) is { } geoProblem)
        {
            failures.Add(geoProblem);
        }
        if (options.Bots.RateWindow < TimeSpan.FromSeconds(1) || options.Bots.RateWindow > TimeSpan.FromHours(1))
        {
            failures.Add($"Enrichment:Bots:RateWindow must be 1 second to 1 hour; it is {options.Bots.RateWindow}");
        }
        if (options.Bots.MaxEventsPerWindow < 1)
        {
            failures.Add($"Enrichment:Bots:MaxEventsPerWindow must be at least 1; it is {options.Bots.MaxEventsPerWindow}");
        }
        var provider = options.Provider;
        if (provider.Url is { } url && (!url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)))
        {
            failures.Add($"Enrichment:Provider:Url must be an absolute http or https URL; it is '{url}'");
        }
        if (provider.Timeout <= TimeSpan.Zero || provider.Timeout > TimeSpan.FromSeconds(30))
        {
            failures.Add($"Enrichment:Provider:Timeout must be above zero and at most 30 seconds (the stream waits for it); it is {provider.Timeout}");
        }
        if (provider.AttemptTimeout <= TimeSpan.Zero || provider.AttemptTimeout > provider.Timeout)
        {
            failures.Add($"Enrichment:Provider:AttemptTimeout must be above zero and at most Enrichment:Provider:Timeout ({provider.Timeout}); it is {provider.AttemptTimeout}");
        }
        if (provider.Retries is < 0 or > 5)
        {
            failures.Add($"Enrichment:Provider:Retries must be 0 to 5; it is {provider.Retries}");
        }
        if (provider.BreakDuration < TimeSpan.FromSeconds(1))
        {
            failures.Add($"Enrichment:Provider:BreakDuration must be at least a second; it is {provider.BreakDuration}");
        }
        if (provider.MinimumThroughput < 2)
        {
            failures.Add($"Enrichment:Provider:MinimumThroughput must be at least 2; it is {provider.MinimumThroughput}");
        }
        if (provider.MaxEventsPerCall < 1)
        {
            failures.Add($"Enrichment:Provider:MaxEventsPerCall must be at least 1; it is {provider.MaxEventsPerCall}");
        }
        for (var i = 0; i < provider.Fields.Count; i++)
        {
            if (!EventFields.IsValidPath(provider.Fields[i]))
            {
                failures.Add($"Enrichment:Provider:Fields:{i} '{provider.Fields[i]}' is not a field of an event ({EventFields.Described})");
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
