using Microsoft.Extensions.Logging;
using Personalization.Sidecar.PubSub;
using Personalization.Sidecar.State;

namespace Personalization.Sidecar.Components;

/// <summary>A state store with its daprd key prefixing.</summary>
public sealed record StateStoreEntry(IStateStore Store, StateKeys Keys);

/// <summary>The components loaded for this app, by name. Built once at start; failures stop the sidecar with the reason.</summary>
public sealed partial class ComponentRegistry(ILogger<ComponentRegistry> logger) : IAsyncDisposable
{
    private readonly Dictionary<string, StateStoreEntry> _states = [];
    private readonly Dictionary<string, IPubSub> _pubsubs = [];
    private readonly List<ComponentDefinition> _loaded = [];

    public IReadOnlyList<ComponentDefinition> Loaded => _loaded;
    public IReadOnlyDictionary<string, StateStoreEntry> StateStores => _states;
    public IReadOnlyDictionary<string, IPubSub> PubSubs => _pubsubs;

    public async Task InitializeAsync(IEnumerable<ComponentDefinition> components, string appId, CancellationToken ct)
    {
        foreach (var component in components)
        {
            try
            {
                await InitializeAsync(component, appId, ct);
                _loaded.Add(component);
                LogLoaded(logger, component.Name, component.Type, component.Version);
            }
            catch (Exception e) when (component.IgnoreErrors && e is not OperationCanceledException)
            {
                LogIgnored(logger, component.Name, e.Message);
            }
            catch (Exception e) when (e is not (ResourceException or OperationCanceledException))
            {
                throw new ResourceException($"component '{component.Name}' ({component.Type}/{component.Version}, {component.Source}) failed to initialize: {e.Message}");
            }
        }
    }

    private async Task InitializeAsync(ComponentDefinition c, string appId, CancellationToken ct)
    {
        switch (c.Type)
        {
            case "state.redis":
                _states[c.Name] = new(await RedisStateStore.ConnectAsync(c), new StateKeys(c.Name, appId, c.Get("keyPrefix")));
                break;
            case "state.postgresql":
                _states[c.Name] = new(await PostgresStateStore.ConnectAsync(c, logger, ct), new StateKeys(c.Name, appId, c.Get("keyPrefix")));
                break;
            case "pubsub.rabbitmq":
                _pubsubs[c.Name] = await RabbitMqPubSub.ConnectAsync(c, appId, logger, ct);
                break;
            case "secretstores.local.env":
                break; // resolved while loading (secretKeyRef); nothing to connect
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Component {Component} loaded ({Type}/{Version})")]
    private static partial void LogLoaded(ILogger logger, string component, string type, string version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Component {Component} failed to initialize and is skipped (ignoreErrors): {Problem}")]
    private static partial void LogIgnored(ILogger logger, string component, string problem);

    public async ValueTask DisposeAsync()
    {
        foreach (var pubsub in _pubsubs.Values) await pubsub.DisposeAsync();
        foreach (var state in _states.Values) await state.Store.DisposeAsync();
    }
}
