using System.Text.Json.Serialization;

namespace Personalization.Collector.Model;

/// <summary>Where an import is: queued → running → completed, or failed with <see cref="ImportJob.Error"/>.</summary>
public static class ImportStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
}

/// <summary>
/// An import and its progress, as <c>GET /v1/imports/{id}</c> answers it: rows read, accepted (published now),
/// duplicates (imported before: same message id), rejected (line and reason downloadable while kept).
/// </summary>
public sealed class ImportJob
{
    public required string Id { get; init; }
    public required string Status { get; set; }
    public required ImportFormat Format { get; init; }
    public string? Source { get; init; }
    public string? Type { get; init; }
    public required long Bytes { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public long RowsRead { get; set; }
    public long RowsAccepted { get; set; }
    public long RowsDuplicate { get; set; }
    public long RowsRejected { get; set; }

    /// <summary>How many rejections are kept to download (at most <see cref="ImportOptions.MaxRejectionsKept"/>).</summary>
    public int RejectionsKept { get; set; }

    /// <summary>The rate the import goes at now (rows/s), as the freshness of live traffic allows.</summary>
    public double? RowsPerSecond { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; set; }

    [JsonIgnore]
    public bool IsFinished => Status is ImportStatus.Completed or ImportStatus.Failed;
}

/// <summary>A row refused on its own: the line it starts on, the column or field, and why.</summary>
public sealed record ImportRejection(long Line, string Field, string Reason);
