using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace Personalization.Gateway.Model;

/// <summary>The three kinds of API key and what each may do.</summary>
public enum KeyKind
{
    /// <summary>Sends events (collector routes) and consent; public, embedded in browsers and apps.</summary>
    Write,
    /// <summary>Reads profiles and consent; a server-side secret.</summary>
    Read,
    /// <summary>Everything a read key may, plus administration and erasure.</summary>
    Admin,
    /// <summary>
    /// Not a configured key: a short-lived token for one user (<see cref="UserTokens"/>), minted by the site's server
    /// with the admin key and handed to that user's browser; reads that user's profile stream and decisions only.
    /// </summary>
    User,
}

/// <summary>A write key and the source (website, app, CRM …) its events are attributed to.</summary>
public sealed class WriteKeyOptions
{
    [Required(AllowEmptyStrings = false)]
    public string Key { get; set; } = "";

    [Required(AllowEmptyStrings = false)]
    public string Source { get; set; } = "";
}

/// <summary>API keys from configuration (<c>ApiKeys:Write</c>, <c>ApiKeys:Read</c>, <c>ApiKeys:Admin</c>).</summary>
public sealed class ApiKeyOptions
{
    public const string Section = "ApiKeys";

    public List<WriteKeyOptions> Write { get; set; } = [];
    public List<string> Read { get; set; } = [];
    public List<string> Admin { get; set; } = [];
}

/// <summary>
/// Who a key belongs to. <see cref="Id"/> names the key in logs, metrics and rate-limit partitions
/// without revealing it: the source name for write keys, a short hash for read and admin keys.
/// </summary>
public sealed record KeyIdentity(KeyKind Kind, string Id, string? Source);

/// <summary>Looks keys up; built once from <see cref="ApiKeyOptions"/>.</summary>
public sealed class ApiKeyRegistry
{
    private readonly Dictionary<string, KeyIdentity> _keys = new(StringComparer.Ordinal);

    public ApiKeyRegistry(ApiKeyOptions options)
    {
        foreach (var write in options.Write)
        {
            Add(write.Key, new KeyIdentity(KeyKind.Write, "write:" + write.Source, write.Source));
        }
        foreach (var key in options.Read)
        {
            Add(key, new KeyIdentity(KeyKind.Read, "read:" + Fingerprint(key), null));
        }
        foreach (var key in options.Admin)
        {
            Add(key, new KeyIdentity(KeyKind.Admin, "admin:" + Fingerprint(key), null));
        }
    }

    public int Count => _keys.Count;

    public KeyIdentity? Find(string key) => _keys.GetValueOrDefault(key);

    /// <summary>Start-up check: every key non-empty and used for one purpose only.</summary>
    public static IEnumerable<string> Problems(ApiKeyOptions options)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var all = options.Write.Select(w => ("Write", w.Key)).Concat(options.Read.Select(k => ("Read", k))).Concat(options.Admin.Select(k => ("Admin", k)));
        foreach (var (kind, key) in all)
        {
            if (string.IsNullOrWhiteSpace(key))
            {
                yield return $"ApiKeys:{kind} has an empty key";
            }
            else if (!seen.Add(key))
            {
                yield return $"ApiKeys:{kind} repeats a key that is already configured; each key must have one kind";
            }
        }
        foreach (var write in options.Write.Where(w => string.IsNullOrWhiteSpace(w.Source)))
        {
            yield return "ApiKeys:Write has a key without a Source";
        }
    }

    private void Add(string key, KeyIdentity identity)
    {
        if (!string.IsNullOrWhiteSpace(key))
        {
            _keys.TryAdd(key, identity);
        }
    }

    private static string Fingerprint(string key) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)).AsSpan(0, 4));
}

/// <summary>What credentials a request carries, read from its headers.</summary>
public abstract record PresentedCredentials
{
    private PresentedCredentials() { }

    public sealed record None : PresentedCredentials;
    public sealed record Key(string Value) : PresentedCredentials;
    public sealed record Malformed(string Reason) : PresentedCredentials;

    public const string WriteKeyHeader = "X-Write-Key";

    /// <summary>
    /// Write keys as the HTTP Basic user name (Segment SDKs send <c>Basic base64(writeKey:)</c>) or in
    /// <c>X-Write-Key</c>; read and admin keys as <c>Bearer</c> tokens. The key's kind, not how it
    /// came, decides what it may do.
    /// </summary>
    public static PresentedCredentials From(StringValues authorization, StringValues writeKeyHeader)
    {
        var header = writeKeyHeader.ToString().Trim();
        if (header.Length > 0)
        {
            return new Key(header);
        }

        var value = authorization.ToString().Trim();
        if (value.Length == 0)
        {
            return new None();
        }
        var space = value.IndexOf(' ');
        if (space <= 0)
        {
            return new Malformed("The Authorization header needs a scheme: Basic or Bearer");
        }
        var scheme = value[..space];
        var parameter = value[(space + 1)..].Trim();
        if (scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return parameter.Length > 0 ? new Key(parameter) : new Malformed("The Bearer token is empty");
        }
        if (scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            return FromBasic(parameter);
        }
        return new Malformed($"The Authorization scheme '{scheme}' is not supported: use Basic or Bearer");
    }

    private static PresentedCredentials FromBasic(string parameter)
    {
        string decoded;
        try
        {
            decoded = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Convert.FromBase64String(parameter));
        }
        catch (Exception e) when (e is FormatException or DecoderFallbackException)
        {
            return new Malformed("The Basic credentials are not valid base64 of 'user:password'");
        }
        var colon = decoded.IndexOf(':');
        var user = colon >= 0 ? decoded[..colon] : decoded;
        return user.Length > 0 ? new Key(user) : new Malformed("The Basic user name (the write key) is empty");
    }
}
