using System.Text.Json;

namespace Personalization.Collector.Model;

/// <summary>
/// Segment's clock-skew correction: a device's clock may be off, but the time between its
/// <c>timestamp</c> and its <c>sentAt</c> is measured on that same clock, so the event happened that
/// long before the collector received it.
/// </summary>
public static class ClockSkew
{
    public static DateTimeOffset Correct(DateTimeOffset? originalTimestamp, DateTimeOffset? sentAt, DateTimeOffset receivedAt) =>
        (originalTimestamp, sentAt) switch
        {
            ({ } original, { } sent) => receivedAt - (sent - original),
            ({ } original, null) => original,
            _ => receivedAt,
        };
}

/// <summary>ISO 8601 date-times as JSON strings; a value without an offset is taken as UTC.</summary>
public static class Iso8601
{
    public static bool TryParse(JsonElement element, out DateTimeOffset value)
    {
        value = default;
        if (element.ValueKind != JsonValueKind.String)
        {
            return false;
        }
        if (!element.TryGetDateTimeOffset(out value))
        {
            return false;
        }
        if (!HasOffset(element.GetString()!) && element.TryGetDateTime(out var unspecified))
        {
            value = new DateTimeOffset(DateTime.SpecifyKind(unspecified, DateTimeKind.Unspecified), TimeSpan.Zero);
        }
        return true;
    }

    private static bool HasOffset(string text)
    {
        if (text.EndsWith('Z') || text.EndsWith('z'))
        {
            return true;
        }
        var time = text.IndexOf('T', StringComparison.OrdinalIgnoreCase);
        return time > 0 && text.AsSpan(time).IndexOfAny('+', '-') > 0;
    }
}
