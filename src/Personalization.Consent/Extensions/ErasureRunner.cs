using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Npgsql;
using Personalization.Consent.Data;
using Personalization.Consent.Model;

namespace Personalization.Consent.Extensions;

/// <summary>
/// Runs erasures in the background: a sweep at once, a second after <c>Privacy:ErasureSettle</c> (for what a stage
/// read before the user was suppressed and wrote after the first sweep), then the erasure is complete and its user id
/// forgotten. With <see cref="AfterErasure.AllowRecollection"/> the suppression markers go too. Erasures left running by
/// a stopped service are resumed at start (from PostgreSQL); a sweep that fails (a store unreachable) is retried.
/// </summary>
public sealed partial class ErasureRunner(
    Erasures erasures, ErasureSweep sweep, IOptions<PrivacyOptions> options, ILogger<ErasureRunner> logger) : BackgroundService
{
    private const int MaxConcurrent = 16;
    private readonly Channel<(Guid Id, string UserId)> _queue = Channel.CreateUnbounded<(Guid, string)>();

    public void Enqueue(Guid erasureId, string userId) => _queue.Writer.TryWrite((erasureId, userId));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await ResumeAsync(stoppingToken);
        using var slots = new SemaphoreSlim(MaxConcurrent);
        await foreach (var (id, userId) in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            await slots.WaitAsync(stoppingToken);
            _ = Task.Run(async () =>
            {
                try
                {
                    await RunAsync(id, userId, stoppingToken);
                }
                finally
                {
                    slots.Release();
                }
            }, stoppingToken);
        }
    }

    private async Task ResumeAsync(CancellationToken ct)
    {
        for (var attempt = 1; !ct.IsCancellationRequested; attempt++)
        {
            try
            {
                foreach (var (id, userId) in await erasures.RunningAsync(ct)) Enqueue(id, userId);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                LogResumeRetry(logger, attempt, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 10)), ct);
            }
        }
    }

    private async Task RunAsync(Guid id, string userId, CancellationToken ct)
    {
        var settings = options.Value;
        var tally = new ErasureTally();
        for (var attempt = 1; !ct.IsCancellationRequested; attempt++)
        {
            try
            {
                await sweep.SweepAsync(id, userId, tally, ct);
                await Task.Delay(settings.ErasureSettle, ct);
                var erased = await sweep.SweepAsync(id, userId, tally, ct);
                if (settings.AfterErasure == AfterErasure.AllowRecollection) await sweep.UnsuppressAsync(erased, ct);
                await erasures.CompleteAsync(id, tally, settings.AfterErasure, DateTimeOffset.UtcNow, ct);
                LogCompleted(logger, id, tally.Redis.Values.Sum(), tally.Postgres.GetValueOrDefault("consentLedgerRowsPseudonymized"));
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                LogSweepRetry(logger, id, attempt, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 10)), ct);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Erasure {ErasureId} completed: {Keys} state keys removed, {Rows} ledger rows pseudonymized")]
    private static partial void LogCompleted(ILogger logger, Guid erasureId, long keys, long rows);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Erasure {ErasureId} is retried (attempt {Attempt}): {Reason}")]
    private static partial void LogSweepRetry(ILogger logger, Guid erasureId, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unfinished erasures not read yet (attempt {Attempt}): {Reason}")]
    private static partial void LogResumeRetry(ILogger logger, int attempt, string reason);
}
