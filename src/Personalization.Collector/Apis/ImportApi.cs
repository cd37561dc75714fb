using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Personalization.Collector.Extensions;
using Personalization.Collector.Model;
using Personalization.Contracts;

namespace Personalization.Collector.Apis;

/// <summary>
/// Bulk import (<c>POST /v1/imports</c>, write or admin key): a CSV or NDJSON body, gzip allowed, is streamed to the
/// collector's spool folder (never held in memory), its CSV header checked, and answered 202 with the import's record;
/// the rows are then ingested in the background (<see cref="ImportRunner"/>). <c>GET /v1/imports/{id}</c> shows progress,
/// <c>GET /v1/imports/{id}/rejections</c> the rejected rows (line, field, reason) as CSV. An import is visible to the admin
/// key and to write keys of the source that sent it.
/// </summary>
public static partial class ImportApi
{
    private const string ProblemPrefix = "urn:personalization:problem:";

    public static IEndpointRouteBuilder MapImportApiV1(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/imports").WithTags("Imports");
        // The body is read as a stream (no Accepts metadata: routing would answer other media types a bare 415).
        api.MapPost("/", StartAsync).WithMetadata(new RequestSizeLimitAttribute(long.MaxValue));
        api.MapGet("/{id}", GetAsync);
        api.MapGet("/{id}/rejections", RejectionsAsync);
        return app;
    }

    public static async Task<Results<Accepted<ImportJob>, ProblemHttpResult>> StartAsync(
        HttpContext context, string? type, ImportJobs jobs, ImportRunner runner, IOptions<ImportOptions> options, IOptions<CollectorOptions> collector,
        TimeProvider time, CancellationToken ct)
    {
        var limits = options.Value;
        if (ImportRows.FormatOf(context.Request.ContentType) is not { } format)
        {
            return Problem(StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "The body is not CSV or NDJSON",
                $"An import is CSV (Content-Type: text/csv) or NDJSON (Content-Type: {string.Join(", ", ImportRows.NdjsonMediaTypes)}); "
                + $"this one is '{context.Request.ContentType}'. Either may be gzipped (Content-Encoding: gzip).",
                new FieldError("Content-Type", "must be text/csv or application/x-ndjson"));
        }
        var defaultType = type?.Trim().ToLowerInvariant();
        if (defaultType is not null && SegmentRequestReader.TypeOfPath(defaultType) != defaultType)
        {
            return Invalid("The type is unknown", $"?type={type} is not an event type.",
                new FieldError("type", "must be one of track, identify, page, screen, group, alias"));
        }
        if (context.Request.ContentLength > limits.MaxBytes) return TooLarge(limits.MaxBytes);

        // The collector's own limit applies (counted while spooling, decompressed), not the server's default of 30 MB.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature) sizeFeature.MaxRequestBodySize = null;

        var id = "imp_" + Guid.CreateVersion7().ToString("N");
        var spooled = ImportRunner.SpoolFile(limits, id);
        var partial = spooled + ".partial";
        Directory.CreateDirectory(limits.SpoolPath);
        long bytes;
        try
        {
            bytes = await SpoolAsync(context.Request.Body, partial, limits.MaxBytes, ct);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
        {
            File.Delete(partial);
            return Invalid("The body cannot be decompressed", $"The body does not decompress as its Content-Encoding says ({e.Message}). Nothing was imported.",
                new FieldError("Content-Encoding", $"does not match the body: {e.Message}"));
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
        if (bytes > limits.MaxBytes)
        {
            File.Delete(partial);
            return TooLarge(limits.MaxBytes);
        }
        if (bytes == 0)
        {
            File.Delete(partial);
            return Invalid("The body is empty", "An import needs rows: a CSV file with a header line, or NDJSON lines.", new FieldError("body", "is empty"));
        }
        if (format == ImportFormat.Csv)
        {
            await using var file = File.OpenRead(partial);
            if ((await ImportRows.ReadHeaderAsync(file, collector.Value.MaxEventBytes, ct)).Problem is { } headerProblem)
            {
                File.Delete(partial);
                return Invalid("The CSV header is invalid", $"{headerProblem.Field} {headerProblem.Message}. Nothing was imported.", headerProblem);
            }
        }

        var job = new ImportJob
        {
            Id = id,
            Status = ImportStatus.Queued,
            Format = format,
            Source = context.Request.Headers[TrackingApi.SourceHeader].ToString() is { Length: > 0 } source ? source : null,
            Type = defaultType,
            Bytes = bytes,
            CreatedAt = time.GetUtcNow(),
        };
        File.Move(partial, spooled);
        await jobs.SaveAsync(job, ct);
        if (!runner.TryEnqueue(id))
        {
            File.Delete(spooled);
            job.Status = ImportStatus.Failed;
            job.Error = $"not started: {limits.MaxQueued} imports were already waiting (Collector:Imports:MaxQueued)";
            await jobs.SaveAsync(job, CancellationToken.None);
            context.Response.Headers.RetryAfter = "60";
            return Problem(StatusCodes.Status503ServiceUnavailable, "overloaded", "Too many imports are waiting",
                $"{limits.MaxQueued} imports are waiting already (Collector:Imports:MaxQueued); nothing of this one was imported. Retry later.",
                new FieldError("Collector:Imports:MaxQueued", $"at most {limits.MaxQueued} imports waiting"));
        }
        return TypedResults.Accepted($"/v1/imports/{id}", job);
    }

    public static async Task<Results<Ok<ImportJob>, ProblemHttpResult>> GetAsync(HttpContext context, string id, ImportJobs jobs, CancellationToken ct) =>
        await FindAsync(context, id, jobs, ct) is { } job ? TypedResults.Ok(job) : NotFound(id);

    /// <summary>The kept rejections as CSV: <c>line,field,reason</c>, in line order.</summary>
    public static async Task<IResult> RejectionsAsync(HttpContext context, string id, ImportJobs jobs, CancellationToken ct)
    {
        if (await FindAsync(context, id, jobs, ct) is not { } job) return NotFound(id);
        context.Response.ContentType = "text/csv; charset=utf-8";
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"{id}-rejections.csv\"";
        var output = new StringBuilder("line,field,reason\n");
        for (var chunk = 0; chunk * ImportJobs.ChunkSize < job.RejectionsKept; chunk++)
        {
            foreach (var rejection in await jobs.GetRejectionsAsync(id, chunk, ct))
            {
                output.Append(rejection.Line).Append(',').Append(Quote(rejection.Field)).Append(',').Append(Quote(rejection.Reason)).Append('\n');
            }
            await context.Response.WriteAsync(output.ToString(), ct);
            output.Clear();
        }
        await context.Response.WriteAsync(output.ToString(), ct);
        return Results.Empty;
    }

    private static async Task<ImportJob?> FindAsync(HttpContext context, string id, ImportJobs jobs, CancellationToken ct)
    {
        if (!ImportId().IsMatch(id)) return null;
        var job = await jobs.GetAsync(id, ct);
        var source = context.Request.Headers[TrackingApi.SourceHeader].ToString();
        // A write key sees its own source's imports only; the admin key (no source) sees all.
        return job is not null && (source.Length == 0 || source == job.Source) ? job : null;
    }

    private static async Task<long> SpoolAsync(Stream body, string path, long maxBytes, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true);
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
            if (total > maxBytes) return total;
            await file.WriteAsync(buffer.AsMemory(0, read), ct);
        }
        return total;
    }

    private static string Quote(string text) =>
        text.AsSpan().IndexOfAny(",\"\n\r") < 0 ? text : "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static ProblemHttpResult TooLarge(long limit) =>
        Problem(StatusCodes.Status413PayloadTooLarge, "import-too-large", "The import is too large",
            $"An import may be at most {limit} bytes decompressed (Collector:Imports:MaxBytes). Nothing was imported; split the file.",
            new FieldError("body", $"is larger than {limit} bytes"));

    private static ProblemHttpResult NotFound(string id) =>
        Problem(StatusCodes.Status404NotFound, "import-not-found", "Import not found", $"There is no import '{id}' this key may see.",
            new FieldError("id", "names no import"));

    private static ProblemHttpResult Invalid(string title, string detail, FieldError error) =>
        Problem(StatusCodes.Status400BadRequest, "invalid-import", title, detail, error);

    private static ProblemHttpResult Problem(int status, string type, string title, string detail, FieldError error) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, type: ProblemPrefix + type,
            extensions: new Dictionary<string, object?> { ["errors"] = new[] { error } });

    [GeneratedRegex("^imp_[0-9a-f]{32}$")]
    private static partial Regex ImportId();
}
