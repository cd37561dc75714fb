using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Personalization.LoadGenerator;

/// <summary>
/// <c>--import</c>: a bulk import of <c>--import-rows</c> rows (a gzipped CSV: a fifth CRM records, the rest historical
/// orders and product views of <c>--users</c> users) through <c>POST /v1/imports</c>, beside live traffic at the first
/// <c>--rates</c> rate. The live traffic's freshness is measured alone first, then while the import runs (same run,
/// same rate); the import's rows/s is rows read over the time from its start to its end, as its own record says.
/// Writes bench/reports/import-&lt;date&gt;.md/.json.
/// </summary>
public sealed class ImportBench(LoadOptions options, GatewayClients http, PhaseRunner runner, string runId)
{
    public async Task<int> RunAsync(string folder, CancellationToken ct)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var rate = options.Rates[0];
        var file = Path.Combine(Path.GetTempPath(), $"personalization-import-{runId}.csv.gz");
        var (rawBytes, gzipBytes) = await AnsiConsole.Status().StartAsync($"writing {options.ImportRows:N0} rows to {file}", _ => WriteFileAsync(file, runId));
        AnsiConsole.MarkupLine($"import file: {options.ImportRows:N0} rows, {rawBytes / 1e6:0.0} MB of CSV, {gzipBytes / 1e6:0.0} MB gzipped");

        try
        {
            var (alone, _) = await runner.RunAsync($"live {LoadOptions.RateName(rate)} alone", rate, options.Duration,
                new Clickstream($"lg{runId}a", options.Users, options.Seed), soak: false, ct);

            AnsiConsole.MarkupLine($"import: uploading {gzipBytes / 1e6:0.0} MB ...");
            var upload = Stopwatch.StartNew();
            var location = await StartImportAsync(file, ct);
            var uploadSeconds = upload.Elapsed.TotalSeconds;
            var progress = new List<ImportSample>();
            using var stopPolling = new CancellationTokenSource();
            var polling = PollAsync(location, progress, stopPolling.Token);
            var (during, _) = await runner.RunAsync($"live {LoadOptions.RateName(rate)} during the import", rate, options.Duration,
                new Clickstream($"lg{runId}b", options.Users, options.Seed + 1), soak: false, ct);

            AnsiConsole.MarkupLine("waiting for the import to end ...");
            var job = await WaitAsync(location, options.Drain + TimeSpan.FromMinutes(30), ct);
            stopPolling.Cancel();
            await polling;
            var seconds = (job.FinishedAt - job.StartedAt).TotalSeconds;
            var report = new ImportReport(startedAt, Machine.Commit(), Machine.Describe(), options.ImportRows, rawBytes, gzipBytes, uploadSeconds,
                job, seconds, job.RowsRead / seconds, rate, alone.Freshness, during.Freshness, alone.CountedPerSecond, during.CountedPerSecond,
                during.Loss.Missing, progress);
            var path = await report.WriteAsync(folder, options.Tag);
            AnsiConsole.MarkupLine($"import: {job.RowsRead:N0} rows in {seconds:0} s = {job.RowsRead / seconds:N0} rows/s; report: {Markup.Escape(path)}");
            return 0;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>A fifth identify rows (CRM records: email, plan, city), the rest track rows over the last 90 days.</summary>
    private async Task<(long Raw, long Gzip)> WriteFileAsync(string path, string prefix)
    {
        var random = new Random(options.Seed);
        var origin = DateTimeOffset.UtcNow.AddDays(-90);
        string[] plans = ["free", "pro", "team"], cities = ["Berlin", "Lisbon", "Austin", "Osaka"], events = ["Order Completed", "Product Viewed", "Product Viewed"];
        long raw = 0;
        await using (var file = File.Create(path))
        await using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        await using (var writer = new StreamWriter(gzip, new UTF8Encoding(false), 1 << 16))
        {
            var header = "type,userId,event,timestamp,email,plan,city,properties.revenue,properties.sku";
            await writer.WriteLineAsync(header);
            raw += header.Length + 1;
            var line = new StringBuilder();
            for (var row = 0; row < options.ImportRows; row++)
            {
                var user = $"imp{prefix}-u{random.Next(options.Users):D6}";
                line.Clear();
                if (row % 5 == 0)
                {
                    line.Append("identify,").Append(user).Append(",,,").Append(user).Append("@example.com,")
                        .Append(plans[random.Next(plans.Length)]).Append(',').Append(cities[random.Next(cities.Length)]).Append(",,");
                }
                else
                {
                    var name = events[random.Next(events.Length)];
                    var at = origin.AddSeconds(random.Next(90 * 86_400)).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
                    line.Append("track,").Append(user).Append(',').Append(name).Append(',').Append(at).Append(",,,,")
                        .Append(name == "Order Completed" ? (random.Next(500, 20_000) / 100.0).ToString(CultureInfo.InvariantCulture) : "")
                        .Append(",sku-").Append(random.Next(5_000));
                }
                await writer.WriteLineAsync(line);
                raw += line.Length + 1;
            }
        }
        return (raw, new FileInfo(path).Length);
    }

    private async Task<Uri> StartImportAsync(string file, CancellationToken ct)
    {
        await using var body = File.OpenRead(file);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(options.Gateway, "/v1/imports")) { Content = new StreamContent(body, 1 << 16) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        request.Content.Headers.ContentEncoding.Add("gzip");
        request.Headers.Authorization = http.WriteKey;
        using var response = await http.Reads.SendAsync(request, ct);
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            throw new InvalidOperationException($"POST /v1/imports answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
        }
        return new Uri(options.Gateway, response.Headers.Location!);
    }

    private async Task<ImportJobFigures> GetAsync(Uri location, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, location);
        request.Headers.Authorization = http.WriteKey;
        using var response = await http.Reads.SendAsync(request, ct);
        response.EnsureSuccessStatusCode();
        var job = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!;
        return new ImportJobFigures(
            job["status"]!.GetValue<string>(), job["rowsRead"]!.GetValue<long>(), job["rowsAccepted"]!.GetValue<long>(),
            job["rowsDuplicate"]!.GetValue<long>(), job["rowsRejected"]!.GetValue<long>(), job["rowsPerSecond"]?.GetValue<double>(),
            job["startedAt"]?.GetValue<DateTimeOffset>() ?? default, job["finishedAt"]?.GetValue<DateTimeOffset>() ?? default, job["error"]?.GetValue<string>());
    }

    /// <summary>The import's progress every 5 s: rows read and the rate the throttle allowed.</summary>
    private async Task PollAsync(Uri location, List<ImportSample> samples, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var job = await GetAsync(location, ct);
                samples.Add(new ImportSample(Math.Round(clock.Elapsed.TotalSeconds), job.RowsRead, job.RowsPerSecond));
                if (job.Status is "completed" or "failed") return;
                await Task.Delay(TimeSpan.FromSeconds(5), ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task<ImportJobFigures> WaitAsync(Uri location, TimeSpan limit, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var job = await GetAsync(location, ct);
            if (job.Status is "completed" or "failed") return job;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the import had not ended after {limit.TotalMinutes:0} min: {job.RowsRead:N0} rows read");
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }
}

public sealed record ImportJobFigures(
    string Status, long RowsRead, long RowsAccepted, long RowsDuplicate, long RowsRejected, double? RowsPerSecond,
    DateTimeOffset StartedAt, DateTimeOffset FinishedAt, string? Error);

public sealed record ImportSample(double Seconds, long RowsRead, double? AllowedRowsPerSecond);

/// <summary>The import benchmark's figures, and its report.</summary>
public sealed record ImportReport(
    DateTimeOffset StartedAt, string Commit, IReadOnlyList<Fact> Machine, long Rows, long RawBytes, long GzipBytes, double UploadSeconds,
    ImportJobFigures Job, double ImportSeconds, double RowsPerSecond, int LiveRate, FreshnessSummary? LiveAlone, FreshnessSummary? LiveDuring,
    double CountedAlone, double CountedDuring, long MissingDuring, IReadOnlyList<ImportSample> Progress)
{
    public async Task<string> WriteAsync(string folder, string? tag)
    {
        Directory.CreateDirectory(folder);
        var name = $"import-{StartedAt:yyyy-MM-dd}{(tag is null ? "" : "-" + tag)}";
        await File.WriteAllTextAsync(Path.Combine(folder, name + ".json"), JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
        static string Ms(LatencySummary? s) => s is null ? "—" : $"{s.P50:0} / {s.P99:0} ms";
        var md = new StringBuilder()
            .AppendLine($"# Bulk import benchmark, {StartedAt:yyyy-MM-dd HH:mm} UTC")
            .AppendLine()
            .AppendLine($"Commit `{Commit}`. Machine: {string.Join("; ", Machine.Select(f => $"{f.Name} {f.Value}"))}. The whole stack (`./run.sh`) and this generator on the same machine.")
            .AppendLine()
            .AppendLine($"One gzipped CSV of {Rows:N0} rows ({RawBytes / 1e6:0.0} MB, {GzipBytes / 1e6:0.0} MB gzipped; a fifth identify rows with three traits, the rest historical orders and product views) through `POST /v1/imports`, beside live traffic at {LiveRate} events/s. Live freshness is measured alone first and then while the import runs, in the same run.")
            .AppendLine()
            .AppendLine("| figure | value |")
            .AppendLine("| --- | --- |")
            .AppendLine($"| upload (gateway → collector's spool) | {UploadSeconds:0.0} s |")
            .AppendLine($"| import: rows read / accepted / duplicate / rejected | {Job.RowsRead:N0} / {Job.RowsAccepted:N0} / {Job.RowsDuplicate:N0} / {Job.RowsRejected:N0} ({Job.Status}{(Job.Error is null ? "" : ": " + Job.Error)}) |")
            .AppendLine($"| import: rows/s (start to end, its own record) | {RowsPerSecond:N0} over {ImportSeconds:0} s |")
            .AppendLine($"| live freshness p50 / p99, alone | {Ms(LiveAlone?.Freshness)} |")
            .AppendLine($"| live freshness p50 / p99, during the import | {Ms(LiveDuring?.Freshness)} |")
            .AppendLine($"| live events counted/s, alone / during (accepted and counted, incl. drain) | {CountedAlone:N0} / {CountedDuring:N0} (missing during: {MissingDuring}) |")
            .AppendLine()
            .AppendLine("Progress (rows read, and the rate the throttle allowed, every 5 s):")
            .AppendLine()
            .AppendLine("| s | rows read | allowed rows/s |")
            .AppendLine("| --- | --- | --- |");
        foreach (var sample in Progress) md.AppendLine($"| {sample.Seconds:0} | {sample.RowsRead:N0} | {sample.AllowedRowsPerSecond?.ToString("N0", CultureInfo.InvariantCulture) ?? "—"} |");
        var path = Path.Combine(folder, name + ".md");
        await File.WriteAllTextAsync(path, md.ToString());
        return path;
    }
}
