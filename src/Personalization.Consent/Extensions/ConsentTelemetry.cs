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
        Denied = _meter.CreateCounter<long>("consent.events.denied", "{event}", "Events dropped, per purpose that was not granted (\"erased\" for erased users)");
        Changes = _meter.CreateCounter<long>("consent.changes", "{request}", "Consent statements recorded, per source (api, gpc, dnt, do-not-sell)");
        Signals = _meter.CreateCounter<long>("consent.signals.recorded", "{user}", "Users whose opt-out signal (GPC, DNT) on an ingestion request changed their consent");
    }

    public Counter<long> Allowed { get; }
    public Counter<long> Denied { get; }
    public Counter<long> Changes { get; }
    public Counter<long> Signals { get; }

    public void Dispose() => _meter.Dispose();

    [LoggerMessage(Level = LogLevel.Debug, Message = "Dropped {MessageId}: no consent for {Purpose}")]
    public static partial void EventDenied(ILogger logger, string messageId, string purpose);

    // User ids stay out of the logs: logs are kept where erasure cannot reach them. The request id leads to the ledger.
    [LoggerMessage(Level = LogLevel.Information, Message = "Consent changed by request {RequestId} from {Source}: {Changes} purposes")]
    public static partial void ConsentRecorded(ILogger logger, string requestId, string source, int changes);

    [LoggerMessage(Level = LogLevel.Information, Message = "A user's consent was rebuilt in the state store from the ledger")]
    public static partial void Rehydrated(ILogger logger);
}
