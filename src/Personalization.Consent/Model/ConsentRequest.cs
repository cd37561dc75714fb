using System.Text.Json;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Consent.Model;

/// <summary>One change a consent statement makes: a purpose, its new value, and what said so (api, gpc, dnt, do-not-sell, …).</summary>
public sealed record ConsentChange(string Purpose, bool Granted, string Source);

/// <summary>
/// The body of <c>PUT /v1/consent/{userId}</c>:
/// <c>{"purposes":{"analytics":true,"marketing":false}, "source":"cmp", "policyVersion":"2026-12-01", "doNotSellOrShare":true}</c>.
/// <c>purposes</c>: 1 to <see cref="MaxPurposes"/> entries of purpose name → boolean; required unless
/// <c>doNotSellOrShare</c> is true (the user's "do not sell or share my personal information" choice, which denies the
/// purposes <c>Consent:Signals:do-not-sell</c> names). <c>source</c> (who recorded the consent, up to 64 characters)
/// and <c>policyVersion</c> (the privacy policy the user saw, up to 64 characters; default <c>Consent:PolicyVersion</c>)
/// are optional. Any other field is refused, so a typo never passes silently.
/// </summary>
public sealed record ConsentRequest(IReadOnlyDictionary<string, bool> Purposes, string? Source, string? PolicyVersion = null, bool DoNotSellOrShare = false)
{
    public const int MaxPurposes = 32;
    public const int MaxUserIdLength = UserIds.MaxLength;
    public const int MaxSourceLength = 64;

    public static FieldError? ValidateUserId(string? userId) =>
        UserIds.Problem(userId) is { } problem ? new("userId", "userId " + problem) : null;

    public static ConsentRequest? Parse(ReadOnlySpan<byte> body, out FieldError? error)
    {
        error = null;
        // Names and strings are decoded only when read, where invalid UTF-8 throws something other than JsonException.
        if (!System.Text.Unicode.Utf8.IsValid(body))
        {
            error = new("body", "is not valid UTF-8");
            return null;
        }
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 8 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            error = new("body", $"the body is not valid JSON: {e.Message}");
            return null;
        }
        using (document)
        {
            return Parse(document.RootElement, out error);
        }
    }

    public static ConsentRequest? Parse(JsonElement root, out FieldError? error)
    {
        error = null;
        if (root.ValueKind != JsonValueKind.Object)
        {
            error = new("body", "the body must be a JSON object");
            return null;
        }
        Dictionary<string, bool>? purposes = null;
        string? source = null, policyVersion = null;
        var doNotSell = false;
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "purposes":
                    purposes = ParsePurposes(property.Value, out error);
                    if (error is not null) return null;
                    break;
                case "source":
                    source = ParseShortString(property, out error);
                    if (error is not null) return null;
                    break;
                case "policyVersion":
                    policyVersion = ParseShortString(property, out error);
                    if (error is not null) return null;
                    break;
                case "doNotSellOrShare":
                    if (property.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    {
                        error = new("doNotSellOrShare", "must be true or false");
                        return null;
                    }
                    doNotSell = property.Value.GetBoolean();
                    break;
                default:
                    error = new(property.Name, $"unknown field '{property.Name}'; expected 'purposes', 'source', 'policyVersion' or 'doNotSellOrShare'");
                    return null;
            }
        }
        if (purposes is null && !doNotSell)
        {
            error = new("purposes", "purposes is required (unless doNotSellOrShare is true): an object of purpose name to true or false");
            return null;
        }
        return new ConsentRequest(purposes ?? [], source, policyVersion, doNotSell);
    }

    private static string? ParseShortString(JsonProperty property, out FieldError? error)
    {
        error = null;
        if (property.Value.ValueKind == JsonValueKind.Null) return null;
        if (property.Value.ValueKind != JsonValueKind.String || property.Value.GetString() is not { Length: > 0 and <= MaxSourceLength } s)
        {
            error = new(property.Name, $"{property.Name} must be a string of 1 to {MaxSourceLength} characters");
            return null;
        }
        // Recorded in the ledger (PostgreSQL text cannot hold NUL) and shown in exports: printable text only.
        if (s.Any(char.IsControl))
        {
            error = new(property.Name, $"{property.Name} must not contain control characters");
            return null;
        }
        return s;
    }

    private static Dictionary<string, bool>? ParsePurposes(JsonElement value, out FieldError? error)
    {
        error = null;
        if (value.ValueKind != JsonValueKind.Object)
        {
            error = new("purposes", "purposes must be an object of purpose name to true or false");
            return null;
        }
        var purposes = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var entry in value.EnumerateObject())
        {
            var field = "purposes." + entry.Name;
            if (!ConsentOptionsValidator.PurposeName().IsMatch(entry.Name))
            {
                error = new(field, "a purpose name is 1 to 64 lowercase letters, digits, '_' or '-', starting with a letter");
                return null;
            }
            if (entry.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                error = new(field, "must be true or false");
                return null;
            }
            if (!purposes.TryAdd(entry.Name, entry.Value.GetBoolean()))
            {
                error = new(field, "is given twice");
                return null;
            }
        }
        if (purposes.Count == 0)
        {
            error = new("purposes", "purposes names no purpose");
            return null;
        }
        if (purposes.Count > MaxPurposes)
        {
            error = new("purposes", $"purposes has more than {MaxPurposes} entries");
            return null;
        }
        return purposes;
    }

    /// <summary>
    /// The changes this request makes: its purposes from its source (default <c>api</c>), then, when
    /// <see cref="DoNotSellOrShare"/>, the denials <paramref name="doNotSell"/> maps it to, from source <c>do-not-sell</c>
    /// (a purpose both name is denied: the opt-out wins).
    /// </summary>
    public List<ConsentChange> Changes(IReadOnlyDictionary<string, bool> doNotSell)
    {
        var source = Source ?? "api";
        var changes = new List<ConsentChange>(Purposes.Count + doNotSell.Count);
        foreach (var (purpose, granted) in Purposes)
        {
            if (!(DoNotSellOrShare && doNotSell.ContainsKey(purpose))) changes.Add(new ConsentChange(purpose, granted, source));
        }
        if (DoNotSellOrShare)
        {
            foreach (var (purpose, granted) in doNotSell) changes.Add(new ConsentChange(purpose, granted, SignalSources.DoNotSell));
        }
        return changes;
    }
}
