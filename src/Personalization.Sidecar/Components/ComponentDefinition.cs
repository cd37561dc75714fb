namespace Personalization.Sidecar.Components;

/// <summary>A Component resource with its metadata values resolved (secretKeyRef looked up in its secret store).</summary>
public sealed record ComponentDefinition(
    string Name, string Type, string Version, IReadOnlyDictionary<string, string> Metadata,
    TimeSpan InitTimeout, bool IgnoreErrors, string Source)
{
    /// <summary>The component types and versions this sidecar implements.</summary>
    public static readonly IReadOnlySet<string> Supported = new HashSet<string>
    {
        "pubsub.rabbitmq/v1", "state.redis/v1", "state.postgresql/v2", "secretstores.local.env/v1",
    };

    public string Get(string key, string fallback = "") =>
        Metadata.TryGetValue(key, out var v) && v.Length > 0 ? v : fallback;

    public bool GetBool(string key, bool fallback) => Metadata.TryGetValue(key, out var v) && v.Length > 0
        ? bool.TryParse(v, out var b) ? b : throw new ResourceException($"component '{Name}': metadata '{key}' must be true or false, not '{v}'")
        : fallback;

    public int GetInt(string key, int fallback) => Metadata.TryGetValue(key, out var v) && v.Length > 0
        ? int.TryParse(v, out var n) ? n : throw new ResourceException($"component '{Name}': metadata '{key}' must be a whole number, not '{v}'")
        : fallback;

    /// <summary>A duration given as Go duration ("30s") or, as Dapr also accepts, a bare number of seconds.</summary>
    public TimeSpan? GetDuration(string key) => Metadata.TryGetValue(key, out var v) && v.Length > 0
        ? int.TryParse(v, out var seconds) ? TimeSpan.FromSeconds(seconds)
        : GoDuration.TryParse(v, out var d) ? d
        : throw new ResourceException($"component '{Name}': metadata '{key}' must be a duration, not '{v}'")
        : null;

    /// <summary>
    /// Builds the components that apply to <paramref name="appId"/> (by scopes) from the documents: secret stores first,
    /// then every other component with its <c>secretKeyRef</c> values resolved through <c>auth.secretStore</c>.
    /// </summary>
    public static IReadOnlyList<ComponentDefinition> Resolve(IEnumerable<ResourceDocument> documents, string appId)
    {
        var docs = documents.Where(d => d.Kind == "Component" && d.AppliesTo(appId)).ToList();
        var duplicate = docs.GroupBy(d => d.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ResourceException($"component '{duplicate.Key}' is defined more than once ({string.Join(", ", duplicate.Select(d => d.Source))})");

        var secretStores = new Dictionary<string, ComponentDefinition>();
        var result = new List<ComponentDefinition>();
        foreach (var doc in docs.OrderBy(d => IsSecretStore(d) ? 0 : 1))
        {
            var type = doc.Spec.String("type") ?? throw new ResourceException($"{doc.Source}: component '{doc.Name}' has no 'spec.type'");
            var version = doc.Spec.String("version") ?? throw new ResourceException($"{doc.Source}: component '{doc.Name}' has no 'spec.version'");
            if (!Supported.Contains($"{type}/{version}"))
                throw new ResourceException($"{doc.Source}: component '{doc.Name}' has type '{type}' version '{version}', which this sidecar does not support (supported: {string.Join(", ", Supported)})");

            var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var item in doc.Spec.Maps("metadata"))
            {
                var name = item.String("name") ?? throw new ResourceException($"{item.Where}: metadata item has no 'name'");
                metadata[name] = item.Map("secretKeyRef") is { } secretRef
                    ? ResolveSecret(doc, name, secretRef, secretStores)
                    : item.String("value") ?? "";
            }
            var initTimeout = doc.Spec.Duration("initTimeout") ?? TimeSpan.FromSeconds(5);
            var definition = new ComponentDefinition(doc.Name, type, version, metadata, initTimeout, doc.Spec.Bool("ignoreErrors", false), doc.Source);
            if (type.StartsWith("secretstores.", StringComparison.Ordinal)) secretStores[doc.Name] = definition;
            result.Add(definition);
        }
        return result;
    }

    private static bool IsSecretStore(ResourceDocument doc) =>
        doc.Spec.String("type")?.StartsWith("secretstores.", StringComparison.Ordinal) == true;

    private static string ResolveSecret(ResourceDocument doc, string metadataName, YamlMap secretRef, Dictionary<string, ComponentDefinition> stores)
    {
        var secretName = secretRef.String("name") ?? throw new ResourceException($"{doc.Source}: component '{doc.Name}' metadata '{metadataName}': secretKeyRef has no 'name'");
        var key = secretRef.String("key");
        var storeName = doc.Auth?.String("secretStore")
            ?? throw new ResourceException($"{doc.Source}: component '{doc.Name}' metadata '{metadataName}' uses secretKeyRef but the component names no 'auth.secretStore'");
        if (!stores.TryGetValue(storeName, out var store))
            throw new ResourceException($"{doc.Source}: component '{doc.Name}' names secret store '{storeName}', which is not loaded for this app");
        var secrets = LocalEnvSecretStore.Get(store, secretName);
        var value = secrets.GetValueOrDefault(string.IsNullOrEmpty(key) ? secretName : key);
        return value ?? throw new ResourceException(
            $"{doc.Source}: component '{doc.Name}' metadata '{metadataName}': secret '{secretName}' (key '{key ?? secretName}') was not found in secret store '{storeName}'");
    }
}

/// <summary>
/// <c>secretstores.local.env</c>: a secret named N is the environment variable N (or <c>{prefix}N</c> when the
/// component sets metadata <c>prefix</c>); it holds one key, N.
/// </summary>
public static class LocalEnvSecretStore
{
    public static IReadOnlyDictionary<string, string> Get(ComponentDefinition store, string name)
    {
        var value = Environment.GetEnvironmentVariable(store.Get("prefix") + name);
        return value is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [name] = value };
    }
}
