using System.ComponentModel.DataAnnotations;

namespace Personalization.Collector.Model;

/// <summary>Bulk imports (<c>POST /v1/imports</c>), bound from <c>Collector:Imports</c>.</summary>
public sealed class ImportOptions
{
    public const string Section = "Collector:Imports";

    /// <summary>
    /// Where an upload is kept until its rows are ingested (then deleted). Default: <c>personalization-imports</c> under the
    /// temporary folder. An upload left there by a stopped collector is imported again when it starts (idempotent).
    /// </summary>
    public string? SpoolDirectory { get; set; }

    /// <summary>Largest upload, decompressed. Default 10 GiB.</summary>
    [Range(1024L, long.MaxValue)]
    public long MaxBytes { get; set; } = 10L * 1024 * 1024 * 1024;

    /// <summary>Uploads waiting for their turn (one import runs at a time per collector); past them a 503.</summary>
    [Range(1, 1000)]
    public int MaxQueued { get; set; } = 16;

    /// <summary>Rows ingested in one step: one de-duplication lookup, one broker message, one marker write.</summary>
    [Range(1, 5000)]
    public int RowsPerStep { get; set; } = 1000;

    /// <summary>The fastest an import goes, in rows/s per collector.</summary>
    [Range(1, 1_000_000)]
    public int MaxRowsPerSecond { get; set; } = 20_000;

    /// <summary>The slowest an import goes while live traffic is late (it never stops: a stuck import is worse).</summary>
    [Range(1, 1_000_000)]
    public int MinRowsPerSecond { get; set; } = 100;

    /// <summary>
    /// The pipeline's heartbeat latency above which imports slow down (halve their rate) and below half of which they speed
    /// up: live events keep their freshness, imports take the capacity left over. Zero turns the adaptation off (imports run
    /// at <see cref="MaxRowsPerSecond"/>).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan TargetFreshness { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Rejected rows whose line and reason are kept per import (the rest are only counted).</summary>
    [Range(0, 1_000_000)]
    public int MaxRejectionsKept { get; set; } = 10_000;

    /// <summary>How long an import's record and rejections are kept after it ends.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "90.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a step is retried while the broker or store is unavailable before the import fails.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromMinutes(10);

    public string SpoolPath => SpoolDirectory is { Length: > 0 } path ? path : Path.Combine(Path.GetTempPath(), "personalization-imports");
}
