using System.Text.Json;

namespace Personalization.Collector.Model;

/// <summary>
/// Segment's clock-skew correction: a device's clock may be off, but the time between its
/// <c>timestamp</c> and its <c>sentAt</c> is measured on that same clock, so the event happened that
/// long before the collector received it.
/// <para>An event's time must lie between <see cref="Earliest"/> and <see cref="MaxAhead"/> after it was received:
/// every later stage does arithmetic on it (sessions, windows), and a date at the far ends of the calendar is a
/// broken clock, not an event.</para>
/// </summary>
public static class ClockSkew
{
    public static readonly DateTimeOffset Earliest = new(1970, 1, 1, 0, 0, 0, TimeSpan.Zero);
    public static readonly TimeSpan MaxAhead = TimeSpan.FromDays(7);

    public static DateTimeOffset Correct(DateTimeOffset? originalTimestamp, DateTimeOffset? sentAt, DateTimeOffset receivedAt) =>
        (originalTimestamp, sentAt) switch
        {
            ({ } original, { } sent) => receivedAt.AddTicks(-Math.Clamp(sent.UtcTicks - original.UtcTicks, receivedAt.UtcTicks - DateTimeOffset.MaxValue.UtcTicks, receivedAt.UtcTicks)),
            ({ } original, null) => original,
            _ => receivedAt,
        };

    /// <summary>Why <paramref name="timestamp"/> (corrected) is not an event's time, or null when it is.</summary>
    public static string? OutOfRange(DateTimeOffset timestamp, DateTimeOffset receivedAt, bool corrected)
    {
        var how = corrected ? " once corrected for clock skew (receivedAt − (sentAt − timestamp))" : "";
        if (timestamp < Earliest) return $"is {timestamp:O}{how}; the earliest event time accepted is {Earliest:yyyy-MM-dd}";
        if (timestamp - receivedAt > MaxAhead) return $"is {timestamp:O}{how}; at most {MaxAhead.TotalDays:0} days after the request arrived are accepted";
        return null;
    }
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
