using System.Threading.Channels;
using Dapr.Client;
using Microsoft.Extensions.Options;
using Personalization.Collector.Model;
using Personalization.Contracts;

namespace Personalization.Collector.Extensions;

/// <summary>
/// Runs the imports this collector took, one at a time, from their spooled uploads: rows are read and checked one by one
/// (a bad row is rejected alone), and every <see cref="ImportOptions.RowsPerStep"/> good ones go through the
/// <see cref="IngestionPipeline"/> as one step — the same de-duplication and broker confirm as a batch request — paced by
/// the <see cref="ImportThrottle"/>. A step the broker or store refuses is retried for
/// <see cref="ImportOptions.GiveUpAfter"/>. Progress is saved every second. An upload still spooled when the collector
/// starts is imported again from its first row: its rows keep their message ids, so what was accepted before counts as a
/// duplicate, never twice.
/// </summary>
public sealed partial class ImportRunner(
    ImportJobs jobs,
    SegmentRequestReader reader,
    IngestionPipeline pipeline,
    ImportThrottle throttle,
    DaprClient dapr,
    CollectorMetrics metrics,
    IOptions<ImportOptions> importOptions,
    IOptions<CollectorOptions> collectorOptions,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<ImportRunner> logger) : BackgroundService
{
    private readonly Channel<string> _queue = Channel.CreateBounded<string>(importOptions.Value.MaxQueued);

    private ImportOptions Options => importOptions.Value;

    // What one import's run uses (a nested class sees these, not the constructor's parameters).
    private ImportJobs Jobs => jobs;
    private SegmentRequestReader Reader => reader;
    private IngestionPipeline Pipeline => pipeline;
    private ImportThrottle Throttle => throttle;
    private CollectorMetrics Metrics => metrics;
    private CollectorOptions Collector => collectorOptions.Value;
    private TimeProvider Time => time;
    private ILogger Logger => logger;

    public static string SpoolFile(ImportOptions options, string id) => Path.Combine(options.SpoolPath, id + ".upload");

    /// <summary>Queues a spooled upload; false when <see cref="ImportOptions.MaxQueued"/> wait already.</summary>
    public bool TryEnqueue(string id) => _queue.Writer.TryWrite(id);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Directory.CreateDirectory(Options.SpoolPath);
        var pacing = WatchFreshnessAsync(stoppingToken);
        try
        {
            await ResumeAsync(stoppingToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogNotResumed(logger, e.Message);
        }
        await foreach (var id in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                await RunAsync(id, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The store refused a progress write, or a bug: the upload stays spooled and is imported again at the next start.
                LogRunBroken(logger, id, e);
            }
        }
        await pacing;
    }

    /// <summary>Uploads a stopped collector left: queued again (those over the queue's size wait for a later start).</summary>
    private async Task ResumeAsync(CancellationToken ct)
    {
        foreach (var file in Directory.EnumerateFiles(Options.SpoolPath, "*.upload").Order())
        {
            var id = Path.GetFileNameWithoutExtension(file);
            var job = await jobs.GetAsync(id, ct);
            if (job is null || job.IsFinished)
            {
                File.Delete(file);
                continue;
            }
            job.Status = ImportStatus.Queued;
            await jobs.SaveAsync(job, ct);
            if (!TryEnqueue(id)) break;
            LogResumed(logger, id, job.RowsRead);
        }
    }

    /// <summary>Reads the pipeline's heartbeat each interval and tells the throttle how late live traffic is.</summary>
    private async Task WatchFreshnessAsync(CancellationToken ct)
    {
        var interval = configuration.GetValue("Heartbeat:Interval", TimeSpan.FromSeconds(5));
        if (interval <= TimeSpan.Zero || Options.TargetFreshness <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    var last = await dapr.GetStateAsync<PipelineHeartbeat?>(StateKeys.Store, StateKeys.Heartbeat, cancellationToken: ct);
                    throttle.Observe(ImportThrottle.Lag(last, time.GetUtcNow(), interval));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    throttle.Observe(null);
                    LogHeartbeatUnread(logger, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task RunAsync(string id, CancellationToken ct)
    {
        var file = SpoolFile(Options, id);
        var job = await jobs.GetAsync(id, ct);
        if (job is null || !File.Exists(file))
        {
            File.Delete(file);
            return;
        }
        (job.Status, job.StartedAt, job.FinishedAt, job.Error) = (ImportStatus.Running, time.GetUtcNow(), null, null);
        (job.RowsRead, job.RowsAccepted, job.RowsDuplicate, job.RowsRejected, job.RejectionsKept) = (0, 0, 0, 0, 0);
        await jobs.SaveAsync(job, ct);
        using var activity = CollectorMetrics.ActivitySource.StartActivity("collector.import");
        activity?.SetTag("import.id", id);
        var run = new Run(this, job);
        try
        {
            await run.ImportAsync(file, ct);
            job.Status = ImportStatus.Completed;
            LogCompleted(logger, id, job.RowsRead, job.RowsAccepted, job.RowsDuplicate, job.RowsRejected);
        }
        catch (ImportFailedException e)
        {
            (job.Status, job.Error) = (ImportStatus.Failed, e.Message);
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
            LogFailed(logger, id, e.Message);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping: the upload stays spooled and is imported again at the next start.
            return;
        }
        job.FinishedAt = time.GetUtcNow();
        job.RowsPerSecond = null;
        await run.FlushRejectionsAsync(CancellationToken.None);
        await jobs.SaveAsync(job, CancellationToken.None);
        File.Delete(file);
    }

    /// <summary>One import's reading, stepping and bookkeeping.</summary>
    private sealed class Run(ImportRunner runner, ImportJob job)
    {
        private readonly List<CollectedEvent> _step = new(runner.Options.RowsPerStep);
        private readonly List<ImportRejection> _rejections = [];
        private int _chunk;
        private long _lastSave = runner.Time.GetTimestamp();
        private Task _inFlight = Task.CompletedTask;

        public async Task ImportAsync(string file, CancellationToken ct)
        {
            var options = runner.Options;
            var maxRowBytes = runner.Collector.MaxEventBytes;
            await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, useAsync: true);
            IAsyncEnumerable<ImportRow> rows;
            if (job.Format == ImportFormat.Csv)
            {
                var (columns, problem) = await ImportRows.ReadHeaderAsync(stream, maxRowBytes, ct);
                if (columns is null) throw new ImportFailedException($"{problem!.Field} {problem.Message}");
                stream.Position = 0;
                rows = ImportRows.ReadCsvAsync(stream, columns, job.Type, maxRowBytes, ct);
            }
            else
            {
                rows = ImportRows.ReadNdjsonAsync(stream, maxRowBytes, ct);
            }
            await foreach (var row in rows)
            {
                job.RowsRead++;
                var info = new RequestInfo(runner.Time.GetUtcNow(), job.Source);
                var (collected, problem) = row.Problem is { } rowProblem ? (null, rowProblem) : runner.Reader.ReadImported(row.Message, job.Type, info);
                if (collected is null)
                {
                    Reject(row.Line, problem!);
                    continue;
                }
                _step.Add(collected);
                if (_step.Count == options.RowsPerStep) await StepAsync(ct);
            }
            await StepAsync(ct);
            await _inFlight;
        }

        /// <summary>Sends the gathered rows while the next are read: at most one step in flight.</summary>
        private async Task StepAsync(CancellationToken ct)
        {
            await _inFlight;
            if (_step.Count > 0)
            {
                var events = _step.ToArray();
                _step.Clear();
                var wait = runner.Throttle.Reserve(events.Length);
                _inFlight = IngestAsync(events, wait, ct);
            }
            if (runner.Time.GetElapsedTime(_lastSave) >= TimeSpan.FromSeconds(1))
            {
                _lastSave = runner.Time.GetTimestamp();
                job.RowsPerSecond = Math.Round(runner.Throttle.RowsPerSecond);
                await FlushRejectionsAsync(ct);
                await runner.Jobs.SaveAsync(job, ct);
            }
        }

        private async Task IngestAsync(CollectedEvent[] events, TimeSpan wait, CancellationToken ct)
        {
            if (wait > TimeSpan.Zero) await Task.Delay(wait, runner.Time, ct);
            var giveUpAt = runner.Time.GetUtcNow() + runner.Options.GiveUpAfter;
            while (true)
            {
                var outcome = await runner.Pipeline.IngestAsync(events, ct);
                if (outcome.Problem is not { } problem)
                {
                    job.RowsAccepted += outcome.Published;
                    job.RowsDuplicate += outcome.Duplicates;
                    runner.Metrics.ImportRows("accepted", outcome.Published);
                    runner.Metrics.ImportRows("duplicate", outcome.Duplicates);
                    return;
                }
                if (runner.Time.GetUtcNow() >= giveUpAt)
                {
                    throw new ImportFailedException(
                        $"stopped after {job.RowsRead} rows: {problem.Detail} (retried for {runner.Options.GiveUpAfter}, Collector:Imports:GiveUpAfter); "
                        + "import the file again to go on: rows already accepted count as duplicates");
                }
                LogStepRetried(runner.Logger, job.Id, problem.Detail);
                await Task.Delay(TimeSpan.FromSeconds(runner.Collector.RetryAfterSeconds), runner.Time, ct);
            }
        }

        private void Reject(long line, FieldError problem)
        {
            job.RowsRejected++;
            runner.Metrics.ImportRows("rejected", 1);
            if (job.RejectionsKept + _rejections.Count < runner.Options.MaxRejectionsKept)
            {
                _rejections.Add(new ImportRejection(line, problem.Field, problem.Message));
            }
        }

        /// <summary>Saves the kept rejections not saved yet, in chunks of <see cref="ImportJobs.ChunkSize"/>.</summary>
        public async Task FlushRejectionsAsync(CancellationToken ct)
        {
            while (_rejections.Count > 0)
            {
                var inChunk = job.RejectionsKept % ImportJobs.ChunkSize;
                var take = Math.Min(ImportJobs.ChunkSize - inChunk, _rejections.Count);
                var existing = inChunk == 0 ? [] : await runner.Jobs.GetRejectionsAsync(job.Id, _chunk, ct);
                await runner.Jobs.SaveRejectionsAsync(job.Id, _chunk, [.. existing, .. _rejections.Take(take)], ct);
                _rejections.RemoveRange(0, take);
                job.RejectionsKept += take;
                if (job.RejectionsKept % ImportJobs.ChunkSize == 0) _chunk++;
            }
        }
    }

    private sealed class ImportFailedException(string message) : Exception(message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Spooled imports not resumed (they are at the next start): {Reason}")]
    private static partial void LogNotResumed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Import {Id} broke off; its upload stays spooled for the next start")]
    private static partial void LogRunBroken(ILogger logger, string id, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {Id} resumed (it had read {Rows} rows before the collector stopped)")]
    private static partial void LogResumed(ILogger logger, string id, long rows);

    [LoggerMessage(Level = LogLevel.Information, Message = "Import {Id} completed: {Rows} rows read, {Accepted} accepted, {Duplicates} duplicates, {Rejected} rejected")]
    private static partial void LogCompleted(ILogger logger, string id, long rows, long accepted, long duplicates, long rejected);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Import {Id} failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string id, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Import {Id}: a step was refused and is retried: {Reason}")]
    private static partial void LogStepRetried(ILogger logger, string id, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Pipeline heartbeat not read for import pacing: {Reason}")]
    private static partial void LogHeartbeatUnread(ILogger logger, string reason);
}
