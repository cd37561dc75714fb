using System.Text.Json;
using Personalization.Contracts;

namespace Personalization.Consent.Model;

/// <summary>A field of a request that is wrong, and why; the API answers it as 400 problem+json.</summary>
public sealed record FieldError(string Field, string Detail);

/// <summary>
/// The body of <c>PUT /v1/consent/{userId}</c>: <c>{"purposes":{"analytics":true,"marketing":false}, "source":"cmp"}</c>.
/// <c>purposes</c> is required, 1 to <see cref="MaxPurposes"/> entries of purpose name → boolean; <c>source</c> is optional
/// (who recorded the consent, up to 64 characters). Any other field is refused, so a typo never passes silently.
/// </summary>
public sealed record ConsentRequest(IReadOnlyDictionary<string, bool> Purposes, string? Source)
{
    public const int MaxPurposes = 32;
    public const int MaxUserIdLength = 256;
    public const int MaxSourceLength = 64;

    public static FieldError? ValidateUserId(string? userId)
    {
        if (string.IsNullOrWhiteSpace(userId)) return new("userId", "userId is required");
        if (userId.Length > MaxUserIdLength) return new("userId", $"userId is longer than {MaxUserIdLength} characters");
        if (userId.Contains(StateKeys.Separator, StringComparison.Ordinal)) return new("userId", $"userId must not contain '{StateKeys.Separator}'");
        foreach (var c in userId)
        {
            if (char.IsControl(c)) return new("userId", "userId contains a control character");
        }
        return null;
    }

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
        string? source = null;
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "purposes":
                    purposes = ParsePurposes(property.Value, out error);
                    if (error is not null) return null;
                    break;
                case "source":
                    if (property.Value.ValueKind == JsonValueKind.Null) break;
                    if (property.Value.ValueKind != JsonValueKind.String || property.Value.GetString() is not { Length: > 0 and <= MaxSourceLength } s)
                    {
                        error = new("source", $"source must be a string of 1 to {MaxSourceLength} characters");
                        return null;
                    }
                    source = s;
                    break;
                default:
                    error = new(property.Name, $"unknown field '{property.Name}'; expected 'purposes' and optionally 'source'");
                    return null;
            }
        }
        if (purposes is null)
        {
            error = new("purposes", "purposes is required: an object of purpose name to true or false");
            return null;
        }
        return new ConsentRequest(purposes, source);
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

    /// <summary>Consent after this request: the given purposes replace their old values, the others stay as they were.</summary>
    public ConsentState ApplyTo(ConsentState? current, string userId, DateTimeOffset now)
    {
        var merged = new SortedDictionary<string, bool>(StringComparer.Ordinal);
        if (current is not null)
        {
            foreach (var (purpose, granted) in current.Purposes) merged[purpose] = granted;
        }
        foreach (var (purpose, granted) in Purposes) merged[purpose] = granted;
        return new ConsentState(userId, merged, now);
    }
}
