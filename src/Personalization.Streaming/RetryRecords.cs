using System.Globalization;
using System.Text.Json;
using Dapr.Client;
using Microsoft.Extensions.Logging;
using Personalization.Contracts;

namespace Personalization.Streaming;

/// <summary>
/// Why each message answered RETRY failed, and how often (<see cref="RetryRecord"/> under
/// <see cref="StateKeys.DeadLetterReason"/>, kept a day): Dapr moves a message to its dead-letter topic unchanged, so
/// this is where the dead-letter store finds the reason and the attempts. Only the failure path pays for it; a record
/// that cannot be written is logged and the answers stand.
/// </summary>
public static class RetryRecords
{
    public static readonly TimeSpan KeptFor = TimeSpan.FromDays(1);

    private static readonly Dictionary<string, string> Ttl = new()
    {
        ["ttlInSeconds"] = ((long)KeptFor.TotalSeconds).ToString(CultureInfo.InvariantCulture),
    };

    public static async Task RecordAsync(DaprClient dapr, string topic, IReadOnlyList<(string CloudEventId, string Reason)> retried, ILogger logger, CancellationToken ct)
    {
        try
        {
            var keys = retried.Select(r => StateKeys.DeadLetterReason(r.CloudEventId)).Distinct().ToList();
            var known = new Dictionary<string, RetryRecord>(StringComparer.Ordinal);
            foreach (var item in await dapr.GetBulkStateAsync(StateKeys.Store, keys, parallelism: null, cancellationToken: ct))
            {
                if (!string.IsNullOrEmpty(item.Value) && JsonSerializer.Deserialize(item.Value, ContractsJsonContext.Default.RetryRecord) is { } record)
                {
                    known[item.Key] = record;
                }
            }
            var now = DateTimeOffset.UtcNow;
            var writes = new List<StateTransactionRequest>(retried.Count);
            foreach (var (cloudEventId, reason) in retried)
            {
                var key = StateKeys.DeadLetterReason(cloudEventId);
                var next = known.TryGetValue(key, out var before)
                    ? before with { Reason = reason, Attempts = before.Attempts + 1, LastFailedAt = now }
                    : new RetryRecord(topic, reason, 1, now, now);
                known[key] = next;
                writes.Add(new StateTransactionRequest(key, JsonSerializer.SerializeToUtf8Bytes(next, ContractsJsonContext.Default.RetryRecord),
                    StateOperationType.Upsert, metadata: Ttl));
            }
            await dapr.ExecuteStateTransactionAsync(StateKeys.Store, writes, cancellationToken: ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            StreamingTelemetry.RetryRecordFailed(logger, retried.Count, topic, e.Message);
        }
    }
}
