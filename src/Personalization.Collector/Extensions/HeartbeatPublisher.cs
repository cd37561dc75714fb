using Dapr.Client;
using Personalization.Collector.Model;
using Personalization.Contracts;

namespace Personalization.Collector.Extensions;

/// <summary>
/// Publishes the pipeline's heartbeat (<see cref="Heartbeat"/>) every <c>Heartbeat:Interval</c> (default 5 s;
/// 00:00:00 turns it off): one event on <c>events.collected</c>, as a request's events are published. A publish that
/// fails is logged and tried again at the next beat; the heartbeat's absence is the signal.
/// </summary>
public sealed partial class HeartbeatPublisher(DaprClient dapr, IConfiguration configuration, TimeProvider time, ILogger<HeartbeatPublisher> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = configuration.GetValue("Heartbeat:Interval", TimeSpan.FromSeconds(5));
        if (interval <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = time.GetUtcNow();
            var beat = new CollectedEvent
            {
                Type = EventTypes.Track,
                Event = Heartbeat.EventName,
                MessageId = Guid.CreateVersion7().ToString(),
                UserId = Heartbeat.ProfileId,
                Timestamp = now,
                ReceivedAt = now,
                Source = "heartbeat",
            };
            // A root span with a name a reader understands: the heartbeat's trace shows every stage it crosses.
            using var activity = CollectorMetrics.ActivitySource.StartActivity("pipeline.heartbeat", System.Diagnostics.ActivityKind.Producer);
            try
            {
                await dapr.PublishEventAsync(Topics.PubSub, Topics.EventsCollected, new CollectedEventBatch([beat]), stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogBeatFailed(logger, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat not published: {Reason}")]
    private static partial void LogBeatFailed(ILogger logger, string reason);
}
