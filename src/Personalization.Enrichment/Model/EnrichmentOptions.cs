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
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
