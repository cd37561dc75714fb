using System.Globalization;
using Dapr.Client;
using Microsoft.Extensions.Options;
using Personalization.Collector.Model;
using Personalization.Contracts;

namespace Personalization.Collector.Extensions;

/// <summary>
/// Imports and their kept rejections in the Dapr state store (<c>import:{id}</c>, <c>import-rejections:{id}:{chunk}</c>,
/// <see cref="ChunkSize"/> rejections a chunk), each expiring <see cref="ImportOptions.Retention"/> after its last write.
/// Any collector answers for any import; the one that took the upload runs it.
/// </summary>
public sealed class ImportJobs(DaprClient dapr, IOptions<ImportOptions> options)
{
    public const int ChunkSize = 1000;

    private Dictionary<string, string> Ttl => new()
    {
        ["ttlInSeconds"] = ((long)options.Value.Retention.TotalSeconds).ToString(CultureInfo.InvariantCulture),
    };

    public Task SaveAsync(ImportJob job, CancellationToken ct) =>
        dapr.SaveStateAsync(StateKeys.Store, Key(job.Id), job, metadata: Ttl, cancellationToken: ct);

    public Task<ImportJob?> GetAsync(string id, CancellationToken ct) =>
        dapr.GetStateAsync<ImportJob?>(StateKeys.Store, Key(id), cancellationToken: ct);

    public Task SaveRejectionsAsync(string id, int chunk, IReadOnlyList<ImportRejection> rejections, CancellationToken ct) =>
        dapr.SaveStateAsync(StateKeys.Store, RejectionsKey(id, chunk), rejections, metadata: Ttl, cancellationToken: ct);

    public async Task<IReadOnlyList<ImportRejection>> GetRejectionsAsync(string id, int chunk, CancellationToken ct) =>
        await dapr.GetStateAsync<List<ImportRejection>?>(StateKeys.Store, RejectionsKey(id, chunk), cancellationToken: ct) ?? [];

    private static string Key(string id) => $"import:{id}";

    private static string RejectionsKey(string id, int chunk) => $"import-rejections:{id}:{chunk}";
}
