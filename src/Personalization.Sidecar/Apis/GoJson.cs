using System.Text.Json;

namespace Personalization.Sidecar.Apis;

/// <summary>
/// JSON read the way daprd reads it (Go's encoding/json): a field matches its name exactly or, failing that, ignoring
/// case (<c>"EntryID"</c> is <c>entryId</c>); unknown fields are ignored; a value that is not an object has no fields.
/// </summary>
public static class GoJson
{
    public static bool TryGetField(this JsonElement element, string name, out JsonElement value)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            if (element.TryGetProperty(name, out value)) return true;
            foreach (var property in element.EnumerateObject())
            {
                if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
                {
                    value = property.Value;
                    return true;
                }
            }
        }
        value = default;
        return false;
    }

    /// <summary>The field's string, or null when it is absent or not a string.</summary>
    public static string? StringField(this JsonElement element, string name) =>
        element.TryGetField(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
