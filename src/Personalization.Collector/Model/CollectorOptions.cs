using System.ComponentModel.DataAnnotations;

namespace Personalization.Collector.Model;

/// <summary>Limits and timings of the collector, bound from the <c>Collector</c> configuration section.</summary>
public sealed class CollectorOptions
{
    public const string Section = "Collector";

    /// <summary>Largest single event, in bytes of JSON (Segment: 32 KB).</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxEventBytes { get; set; } = 32 * 1024;

    /// <summary>Largest request to <c>/v1/batch</c>, in bytes of JSON (Segment: 500 KB).</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxBatchBytes { get; set; } = 500 * 1024;

    /// <summary>How long a messageId is remembered for de-duplication (Segment: about 24 hours).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan DedupeWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long one call to the sidecar (state or publish) may take before the request is answered 503.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan SidecarTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The Retry-After the collector answers with when the broker or state store is unavailable.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 5;

    /// <summary>
    /// Tracking requests one collector handles at once. With these and <see cref="MaxQueuedRequests"/> busy, a further
    /// request is answered 503 with Retry-After at once instead of waiting: the bound on the collector's memory (each
    /// request holds at most <see cref="MaxBatchBytes"/>) and on how long an accepted request can take.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxConcurrentRequests { get; set; } = 32;

    /// <summary>Tracking requests that may wait for one of the <see cref="MaxConcurrentRequests"/> slots.</summary>
    [Range(0, 100_000)]
    public int MaxQueuedRequests { get; set; } = 32;

    /// <summary>WebSocket ingestion streams (<c>/v1/stream</c>) one collector holds open; past them a 503 before the upgrade.</summary>
    [Range(1, 100_000)]
    public int MaxStreams { get; set; } = 1_000;

    /// <summary>Messages of one stream waiting for their acks; past them the collector stops reading the stream until acks free room.</summary>
    [Range(1, 100_000)]
    public int MaxUnackedPerStream { get; set; } = 1_000;

    /// <summary>The Retry-After of a request shed because the collector is at its limits.</summary>
    [Range(1, 3600)]
    public int OverloadRetryAfterSeconds { get; set; } = 1;
}
