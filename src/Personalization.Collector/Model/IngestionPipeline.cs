using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Personalization.Contracts;

namespace Personalization.Collector.Model;

/// <summary>
/// How a request's valid events fared: accepted (published, known duplicates, or kept out by a blocking tracking plan)
/// or refused with a problem.
/// </summary>
public sealed record IngestionOutcome(int Published, int Duplicates, RequestProblem? Problem, int Blocked = 0)
{
    public bool IsAccepted => Problem is null;
}

/// <summary>
/// The de-duplicate-then-publish flow: look markers up → drop events seen before → check the rest against their
/// tracking plans → quarantine the breaches of warn and block plans → publish what passes in one bulk call → only then
/// write markers. A marker written before publishing would lose the event if publishing failed; a duplicate slipping
/// through a race is absorbed by aggregation's idempotency. Plans are checked after de-duplication, so a retried request
/// is not quarantined twice, and after the suppression list, so an erased user's events are not kept in quarantine
/// either. A blocked event is answered like an accepted one (it was well-formed; the quarantine holds it) and gets its
/// marker too. Any failure to queue an event, to the quarantine included, answers "unavailable", never "accepted".
/// </summary>
public sealed partial class IngestionPipeline(
    IEventSink sink,
    ITrackingPlanSource plans,
    IOptions<CollectorOptions> options,
    CollectorMetrics metrics,
    TimeProvider time,
    ILogger<IngestionPipeline> logger)
{
    public async Task<IngestionOutcome> IngestAsync(IReadOnlyList<CollectedEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return new IngestionOutcome(0, 0, null);
        }

        using var activity = CollectorMetrics.ActivitySource.StartActivity("collector.ingest");
        activity?.SetTag("collector.events", events.Count);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.SidecarTimeout);
        try
        {
            var found = await sink.FindMarkersAsync(DedupePlan.DistinctIds(events), DedupePlan.DistinctProfiles(events), timeout.Token);
            var plan = DedupePlan.Create(events, found.SeenMessageIds, found.SuppressedProfileIds);
            if (plan.Suppressed > 0) metrics.Suppressed(plan.Suppressed);
            if (plan.Duplicates.Count > 0)
            {
                metrics.Duplicates(plan.Duplicates);
                LogDuplicates(logger, plan.Duplicates.Count, events.Count);
            }

            var (published, blocked) = (0, 0);
            if (plan.ToPublish.Count > 0)
            {
                var check = (await plans.CurrentAsync(timeout.Token)).Check(plan.ToPublish);
                if (check.Breaches.Count > 0)
                {
                    metrics.PlanViolations(check.Breaches);
                    LogBreaches(logger, check.Breaches.Count, check.Blocked.Count, events.Count);
                    activity?.SetTag("collector.plan_breaches", check.Breaches.Count);
                    // First: a quarantine the broker refused fails the request before anything of it went on.
                    if (check.ToQuarantine(time.GetUtcNow()) is { Count: > 0 } quarantined) await sink.QuarantineAsync(quarantined, timeout.Token);
                }
                var passing = check.Passing;
                if (passing.Count > 0)
                {
                    var failed = await sink.PublishAsync(passing, timeout.Token);
                    if (failed.Count > 0)
                    {
                        // What did reach the broker (or the quarantine) gets its marker, so the client's retry of the
                        // whole request publishes only what is missing.
                        var failedIds = failed.ToHashSet(StringComparer.Ordinal);
                        var queued = passing.Where(e => !failedIds.Contains(e.MessageId)).ToList();
                        await TryMarkAsync([.. queued, .. check.Blocked], timeout.Token);
                        metrics.Accepted(queued);
                        LogPartialPublish(logger, failed.Count, passing.Count);
                        activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "partial publish");
                        return Unavailable(queued.Count + check.Blocked.Count == 0
                            ? "The broker did not take the events; nothing was accepted. Retry later."
                            : $"{failed.Count} of {plan.ToPublish.Count} events could not be queued; retry the whole request (the {queued.Count + check.Blocked.Count} already queued are not duplicated).");
                    }
                }
                await TryMarkAsync(check.Blocked.Count == 0 ? passing : [.. passing, .. check.Blocked], timeout.Token);
                metrics.Accepted(passing);
                (published, blocked) = (passing.Count, check.Blocked.Count);
            }

            metrics.BatchSize(events.Count);
            activity?.SetTag("collector.published", published);
            activity?.SetTag("collector.duplicates", plan.Duplicates.Count);
            return new IngestionOutcome(published, plan.Duplicates.Count, null, blocked);
        }
        catch (EventSinkUnavailableException e)
        {
            LogUnavailable(logger, e.Message, e.InnerException);
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
            return Unavailable("The event store or broker is unavailable; nothing was accepted. Retry later.");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogTimedOut(logger, options.Value.SidecarTimeout);
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "timeout");
            return Unavailable($"The broker did not confirm within {options.Value.SidecarTimeout.TotalSeconds:0.#} s; nothing was accepted. Retry later.");
        }
    }

    private async Task TryMarkAsync(IReadOnlyList<CollectedEvent> published, CancellationToken cancellationToken)
    {
        if (published.Count == 0)
        {
            return;
        }
        try
        {
            await sink.MarkSeenAsync(DedupePlan.DistinctIds(published), time.GetUtcNow(), options.Value.DedupeWindow, cancellationToken);
        }
        catch (Exception e) when (e is EventSinkUnavailableException or OperationCanceledException)
        {
            // The events are safely queued; a missing marker only lets a retry through as a
            // duplicate, which aggregation absorbs. Never turn a queued event into an error answer.
            LogMarkerWriteFailed(logger, published.Count, e);
        }
    }

    private static IngestionOutcome Unavailable(string detail) =>
        new(0, 0, new RequestProblem(ProblemKind.Unavailable, "Events could not be queued", detail, []));

    [LoggerMessage(Level = LogLevel.Debug, Message = "Dropped {Duplicates} of {Events} events as duplicates")]
    private static partial void LogDuplicates(ILogger logger, int duplicates, int events);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Breaches} of {Events} events broke their tracking plan; {Blocked} were blocked")]
    private static partial void LogBreaches(ILogger logger, int breaches, int blocked, int events);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Broker refused {Failed} of {Events} events; answering 503")]
    private static partial void LogPartialPublish(ILogger logger, int failed, int events);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sidecar unavailable, answering 503: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string reason, Exception? exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sidecar did not answer within {Timeout}; answering 503")]
    private static partial void LogTimedOut(ILogger logger, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Published {Events} events but could not write their de-duplication markers")]
    private static partial void LogMarkerWriteFailed(ILogger logger, int events, Exception exception);
}
