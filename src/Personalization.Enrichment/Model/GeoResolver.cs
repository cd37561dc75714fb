using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Personalization.Contracts;

namespace Personalization.Enrichment.Model;

/// <summary>A configured network and where it is (<c>Enrichment:GeoNetworks</c>), e.g. an office or a VPN range.</summary>
public sealed class GeoNetwork
{
    public string Cidr { get; set; } = "";
    public string? Country { get; set; }
    public string? Region { get; set; }
    public string? City { get; set; }
}

/// <summary>
/// Geo from what the event itself says, never from an outside lookup: <c>context.location</c>
/// (<c>country</c>, <c>region</c>, <c>city</c>, as Segment's spec names them) wins; otherwise <c>context.ip</c> is
/// matched against the configured networks (first match wins). Neither given, or nothing matched: no geo (null).
/// </summary>
public sealed class GeoResolver
{
    private readonly (IPNetwork Network, GeoContext Geo)[] _networks;

    public GeoResolver(IEnumerable<GeoNetwork> networks)
    {
        _networks = networks
            .Select(n => (IPNetwork.Parse(n.Cidr), new GeoContext(n.Country, n.Region, n.City)))
            .ToArray();
    }

    public GeoContext? Resolve(JsonObject? context)
    {
        if (context is null) return null;
        if (context["location"] is JsonObject location)
        {
            var geo = new GeoContext(Text(location, "country"), Text(location, "region"), Text(location, "city"));
            if (geo.Country is not null || geo.Region is not null || geo.City is not null) return geo;
        }
        if (_networks.Length > 0 && Text(context, "ip") is { } ip && IPAddress.TryParse(ip, out var address))
        {
            if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
            foreach (var (network, geo) in _networks)
            {
                if (network.Contains(address)) return geo;
            }
        }
        return null;
    }

    private static string? Text(JsonObject node, string name) =>
        node[name] is JsonValue value && value.GetValueKind() == JsonValueKind.String && value.GetValue<string>() is { Length: > 0 } text
            ? text
            : null;
}
