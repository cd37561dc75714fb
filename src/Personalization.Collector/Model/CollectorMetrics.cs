using System.Diagnostics;
using System.Diagnostics.Metrics;
using Personalization.Contracts;

namespace Personalization.Collector.Model;

/// <summary>The collector's meter and activity source (both <c>Personalization.Collector</c>).</summary>
public sealed class CollectorMetrics
{
    public const string Name = "Personalization.Collector";

    public static readonly ActivitySource ActivitySource = new(Name);

    private readonly Counter<long> _accepted;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _duplicates;
    private readonly Counter<long> _suppressed;
    private readonly Histogram<int> _batchSize;
    private readonly UpDownCounter<long> _streams;
    private readonly Histogram<double> _ackLatency;
    private readonly Counter<long> _importRows;

    public CollectorMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _accepted = meter.CreateCounter<long>("collector.events.accepted", "{event}", "Events published to " + Topics.EventsCollected);
        _rejected = meter.CreateCounter<long>("collector.events.rejected", "{request}", "Requests refused, by reason");
        _duplicates = meter.CreateCounter<long>("collector.events.duplicate", "{event}", "Events dropped because their messageId was seen before");
        _suppressed = meter.CreateCounter<long>("collector.events.suppressed", "{event}", "Events dropped because their user was erased (on the suppression list)");
        _streams = meter.CreateUpDownCounter<long>("collector.streams.open", "{stream}", "WebSocket ingestion streams open");
        _ackLatency = meter.CreateHistogram<double>("collector.stream.ack.latency", "ms", "From a stream frame read to its messages acknowledged (the broker holds them)");
        _importRows = meter.CreateCounter<long>("collector.import.rows", "{row}", "Rows of imports, by outcome: accepted, duplicate (imported before), rejected");
        _batchSize = meter.CreateHistogram<int>("collector.batch.size", "{event}", "Events per accepted request");
    }

    public void Accepted(IReadOnlyList<CollectedEvent> events)
    {
        foreach (var collected in events)
        {
            _accepted.Add(1, new KeyValuePair<string, object?>("event.type", collected.Type));
        }
    }

    public void Duplicates(IReadOnlyList<CollectedEvent> events)
    {
        foreach (var collected in events)
        {
            _duplicates.Add(1, new KeyValuePair<string, object?>("event.type", collected.Type));
        }
    }

    public void Suppressed(int events) => _suppressed.Add(events);

    public void Rejected(string endpointType, string reason) =>
        _rejected.Add(1, new KeyValuePair<string, object?>("event.type", endpointType), new KeyValuePair<string, object?>("reason", reason));

    public void BatchSize(int events) => _batchSize.Record(events);

    public void ImportRows(string outcome, long rows)
    {
        if (rows > 0) _importRows.Add(rows, new KeyValuePair<string, object?>("outcome", outcome));
    }

    public void StreamOpened() => _streams.Add(1);

    public void StreamClosed() => _streams.Add(-1);

    /// <summary>From a stream's frame read to its last ack sent.</summary>
    public void StreamAcknowledged(double milliseconds) => _ackLatency.Record(milliseconds);
}
