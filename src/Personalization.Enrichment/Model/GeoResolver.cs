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
/// Geo of an event, from the most specific source that knows it (<see cref="GeoContext.Source"/> says which):
/// <list type="number">
/// <item><c>context.location</c> (<c>country</c>, <c>region</c>, <c>city</c>, as Segment's spec names them): what the
/// client itself says;</item>
/// <item><c>context.ip</c> in a configured network (<c>Enrichment:GeoNetworks</c>, first match wins): an office or a VPN
/// range the operator knows better than any database;</item>
/// <item><c>context.ip</c> in the IP geolocation database (<c>Enrichment:GeoDatabase</c>), when one is configured.</item>
/// </list>
/// None given, or nothing matched (a private address, an address the database lacks): no geo (null). Local lookups
/// only: nothing leaves the process.
/// </summary>
public sealed class GeoResolver
{
    private readonly (IPNetwork Network, GeoContext Geo)[] _networks;
    private readonly GeoDatabase? _database;

    public GeoResolver(IEnumerable<GeoNetwork> networks, GeoDatabase? database = null)
    {
        _networks = networks
            .Select(n => (IPNetwork.Parse(n.Cidr), new GeoContext(n.Country, n.Region, n.City) { Source = GeoSources.Network }))
            .ToArray();
        _database = database;
    }

    public GeoContext? Resolve(JsonObject? context)
    {
        if (context is null) return null;
        if (context["location"] is JsonObject location)
        {
            var geo = new GeoContext(Text(location, "country"), Text(location, "region"), Text(location, "city")) { Source = GeoSources.Location };
            if (geo.Country is not null || geo.Region is not null || geo.City is not null) return geo;
        }
        if ((_networks.Length > 0 || _database is not null) && Text(context, "ip") is { } ip && IPAddress.TryParse(ip, out var address))
        {
            if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
            foreach (var (network, geo) in _networks)
            {
                if (network.Contains(address)) return geo;
            }
            return _database?.Find(address);
        }
        return null;
    }

    private static string? Text(JsonObject node, string name) =>
        node[name] is JsonValue value && value.GetValueKind() == JsonValueKind.String && value.GetValue<string>() is { Length: > 0 } text
            ? text
            : null;
}
