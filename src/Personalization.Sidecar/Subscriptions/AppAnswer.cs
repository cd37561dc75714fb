using System.Text.Json;
using Personalization.Sidecar.Apis;

namespace Personalization.Sidecar.Subscriptions;

/// <summary>What the app's answer to a delivery means.</summary>
public enum DeliveryResult { Success, Retry, Drop }

/// <summary>
/// Dapr's reading of the app's answer: 2xx with an empty or non-JSON body, no status or <c>{"status":"SUCCESS"}</c> is
/// success; <c>RETRY</c> or any unknown status (case-sensitive) retries; <c>DROP</c> drops; 404 drops; every other
/// status code (and a failed call) retries.
/// </summary>
public static class AppAnswer
{
    public static DeliveryResult Classify(int statusCode, ReadOnlySpan<byte> body)
    {
        if (statusCode == 404) return DeliveryResult.Drop;
        if (statusCode is < 200 or > 299) return DeliveryResult.Retry;
        return StatusOf(body) switch
        {
            null or "" or "SUCCESS" => DeliveryResult.Success,
            "DROP" => DeliveryResult.Drop,
            _ => DeliveryResult.Retry,
        };
    }

    /// <summary>
    /// The per-entry results of a bulk delivery (<c>{"statuses":[{"entryId","status"}]}</c>); entries the app left out are
    /// retried. A non-2xx answer applies to every entry (404 drops them all).
    /// </summary>
    public static IReadOnlyDictionary<string, DeliveryResult> ClassifyBulk(int statusCode, ReadOnlySpan<byte> body, IReadOnlyCollection<string> entryIds)
    {
        var results = entryIds.ToDictionary(id => id, _ => statusCode == 404 ? DeliveryResult.Drop : DeliveryResult.Retry);
        if (statusCode is < 200 or > 299) return results;
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetField("statuses", out var statuses) || statuses.ValueKind != JsonValueKind.Array)
                return results;
            foreach (var entry in statuses.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Object || entry.StringField("entryId") is not { } entryId || !results.ContainsKey(entryId))
                    continue;
                var status = entry.StringField("status");
                results[entryId] = status switch { "SUCCESS" => DeliveryResult.Success, "DROP" => DeliveryResult.Drop, _ => DeliveryResult.Retry };
            }
        }
        catch (JsonException)
        {
        }
        return results;
    }

    // Read in one pass without a document: this runs for every single delivery. Like JsonDocument.ParseValue, the first
    // JSON value counts, a repeated "status" counts once (the last), and malformed JSON means no status.
    private static string? StatusOf(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty) return null;
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            string? status = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isStatus = reader.ValueTextEquals("status"u8);
                reader.Read();
                if (isStatus) status = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
            return reader.TokenType == JsonTokenType.EndObject ? status : null;
        }
        catch (JsonException)
        {
            return null; // not JSON: Dapr skips the status check and takes the 2xx as success
        }
    }
}
