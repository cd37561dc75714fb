using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Personalization.Collector.Model;
using Personalization.Contracts;

namespace Personalization.Collector.Tests;

/// <summary>An in-memory stand-in for the state store, the broker and the tracking plans that records the order of calls.</summary>
internal sealed class FakeSink : IEventSink, ITrackingPlanSource
{
    /// <summary>The collector in memory with this sink as its state store and broker, and <paramref name="settings"/> configured.</summary>
    public WebApplicationFactory<Program> Collector(params (string Key, string Value)[] settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in settings) web.UseSetting(key, value);
            web.ConfigureTestServices(services =>
            {
                services.AddSingleton<IEventSink>(this);
                services.AddSingleton<ITrackingPlanSource>(this);
            });
        });

    public HashSet<string> Markers { get; } = [];
    public List<QuarantinedEvent> Quarantined { get; } = [];

    /// <summary>The tracking plans ingestion checks events against.</summary>
    public TrackingPlanSet Plans { get; set; } = TrackingPlanSet.Empty;

    public bool QuarantineDown { get; set; }

    public Task<TrackingPlanSet> CurrentAsync(CancellationToken cancellationToken) => Task.FromResult(Plans);

    public Task QuarantineAsync(IReadOnlyList<QuarantinedEvent> events, CancellationToken cancellationToken)
    {
        lock (Calls) Calls.Add("quarantine");
        if (QuarantineDown) throw new EventSinkUnavailableException("broker down");
        lock (Quarantined) Quarantined.AddRange(events);
        return Task.CompletedTask;
    }
    public List<CollectedEvent> Published { get; } = [];
    public List<string> Calls { get; } = [];
    public List<int> PublishCallSizes { get; } = [];
    public TimeSpan? LastTtl { get; private set; }

    public bool StoreDown { get; set; }
    public bool BrokerDown { get; set; }
    public bool MarkerWritesFail { get; set; }
    public HashSet<string> RefusedByBroker { get; } = [];
    public TimeSpan PublishDelay { get; set; }
    /// <summary>When set, every publish waits for it: requests stay in flight until the test completes it.</summary>
    public TaskCompletionSource? PublishGate { get; set; }

    /// <summary>Profile ids on the suppression list (erased users).</summary>
    public HashSet<string> Suppressed { get; } = [];

    public Task<MarkersFound> FindMarkersAsync(IReadOnlyList<string> messageIds, IReadOnlyList<string> profileIds, CancellationToken cancellationToken)
    {
        lock (Calls) Calls.Add("find");
        if (StoreDown)
        {
            throw new EventSinkUnavailableException("state store down");
        }
        lock (Markers) return Task.FromResult(new MarkersFound(messageIds.Where(Markers.Contains).ToHashSet(), profileIds.Where(Suppressed.Contains).ToHashSet()));
    }

    public async Task<IReadOnlyList<string>> PublishAsync(IReadOnlyList<CollectedEvent> events, CancellationToken cancellationToken)
    {
        lock (Calls)
        {
            Calls.Add("publish");
            PublishCallSizes.Add(events.Count);
        }
        if (PublishDelay > TimeSpan.Zero)
        {
            await Task.Delay(PublishDelay, cancellationToken);
        }
        if (PublishGate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }
        if (BrokerDown)
        {
            throw new EventSinkUnavailableException("broker down");
        }
        var refused = events.Where(e => RefusedByBroker.Contains(e.MessageId)).Select(e => e.MessageId).ToList();
        lock (Published)
        {
            Published.AddRange(events.Where(e => !RefusedByBroker.Contains(e.MessageId)));
        }
        return refused;
    }

    public Task MarkSeenAsync(IReadOnlyList<string> messageIds, DateTimeOffset receivedAt, TimeSpan ttl, CancellationToken cancellationToken)
    {
        lock (Calls) Calls.Add("mark");
        if (MarkerWritesFail)
        {
            throw new EventSinkUnavailableException("state store down");
        }
        LastTtl = ttl;
        lock (Markers) Markers.UnionWith(messageIds);
        return Task.CompletedTask;
    }
}
