using Dapr.Client;

namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

/// <summary>
/// One sidecar per state store (same app-id), each started on first use, so a store that cannot start fails only its own tests.
/// </summary>
public sealed class StoreSidecars : IAsyncDisposable
{
    private readonly string _appId;
    private readonly InfrastructureFixture _infra;
    private readonly Dictionary<string, Task<SidecarProcess>> _started = [];
    private readonly List<ResourcesFolder> _folders = [];

    public StoreSidecars(string appId, InfrastructureFixture infra)
    {
        _appId = appId;
        _infra = infra;
    }

    public Task<SidecarProcess> SidecarAsync(string store)
    {
        lock (_started)
        {
            if (!_started.TryGetValue(store, out var sidecar))
            {
                var folder = new ResourcesFolder();
                _folders.Add(folder);
                _ = store switch
                {
                    ResourcesFolder.RedisStore => folder.WithRedisStateStore(_infra),
                    ResourcesFolder.PostgresStore => folder.WithPostgresStateStore(_infra),
                    _ => throw new ArgumentOutOfRangeException(nameof(store), store, "no such test store"),
                };
                sidecar = SidecarProcess.StartAsync(new SidecarOptions(_appId, folder.Path));
                _started[store] = sidecar;
            }

            return sidecar;
        }
    }

    public async Task<DaprClient> ClientAsync(string store) => (await SidecarAsync(store)).CreateClient();

    public async ValueTask DisposeAsync()
    {
        foreach (var started in _started.Values)
        {
            if (started.IsCompletedSuccessfully)
            {
                await started.Result.DisposeAsync();
            }
        }

        foreach (var folder in _folders)
        {
            folder.Dispose();
        }
    }
}
