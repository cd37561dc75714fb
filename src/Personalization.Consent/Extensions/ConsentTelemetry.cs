using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Personalization.Consent.Extensions;

/// <summary>Meter and activity source <c>Personalization.Consent</c>, and the service's log messages.</summary>
public sealed partial class ConsentTelemetry : IDisposable
{
    public const string Name = "Personalization.Consent";
    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Meter _meter;

    public ConsentTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        Allowed = _meter.CreateCounter<long>("consent.events.allowed", "{event}", "Events let through, per purpose they needed");
        Denied = _meter.CreateCounter<long>("consent.events.denied", "{event}", "Events dropped, per purpose that was not granted");
        Changes = _meter.CreateCounter<long>("consent.changes", "{request}", "Consent statements recorded");
    }

    public Counter<long> Allowed { get; }
    public Counter<long> Denied { get; }
    public Counter<long> Changes { get; }

    public void Dispose() => _meter.Dispose();

    [LoggerMessage(Level = LogLevel.Debug, Message = "Dropped {MessageId} of {ProfileId}: no consent for {Purpose}")]
    public static partial void EventDenied(ILogger logger, string messageId, string profileId, string purpose);

    [LoggerMessage(Level = LogLevel.Information, Message = "Consent of {UserId} changed by request {RequestId} from {Source}")]
    public static partial void ConsentRecorded(ILogger logger, string userId, string requestId, string source);

    [LoggerMessage(Level = LogLevel.Information, Message = "Consent of {UserId} rebuilt in the state store from the ledger")]
    public static partial void Rehydrated(ILogger logger, string userId);
}
