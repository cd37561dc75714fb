using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using k8s;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Personalization.EndToEndTests;

/// <summary>
/// The Kubernetes manifests in <c>deploy/</c>: what the AppHost generates from its model today (no drift), built by
/// kustomize for every overlay, and within the house policies (pinned images, requests and limits, probes, non-root,
/// read-only root filesystem, Dapr's annotations, scoped components, no secret value), every object valid for its
/// kind: Kubernetes' own kinds against the API's types (KubernetesClient, strict: an unknown field fails), Dapr's and the
/// Prometheus Operator's against the JSON Schemas in <c>deploy/schemas</c>.
/// </summary>
public sealed class DeploymentManifestsTests
{
    private static readonly string Deploy = RepositoryFiles.PathOf("deploy");
    private static readonly string[] Kustomizations = ["base", Path.Combine("overlays", "kafka"), Path.Combine("overlays", "in-cluster-stores")];

    /// <summary>The JSON Schema of each kind that is not Kubernetes' own.</summary>
    private static readonly Dictionary<string, string> SchemaFiles = new(StringComparer.Ordinal)
    {
        ["Component"] = "dapr-component.schema.json",
        ["Configuration"] = "dapr-configuration.schema.json",
        ["Resiliency"] = "dapr-resiliency.schema.json",
        ["PodMonitor"] = "pod-monitor.schema.json",
        ["PrometheusRule"] = "prometheus-rule.schema.json",
    };

    [Fact]
    public async Task TheCommittedManifestsAreWhatTheAppHostGeneratesFromItsModel()
    {
        var output = Directory.CreateTempSubdirectory("personalization-manifests-").FullName;
        try
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var (code, text) = await RunAsync("dotnet", ["run", "--project", RepositoryFiles.PathOf("Personalization.AppHost"), "--no-build", "-c", configuration,
                "--no-launch-profile", "--", "--publisher", "manifests", "--output", output]);
            Assert.True(code == 0, $"the manifests publisher failed ({code}): {text}");

            foreach (var folder in Kustomizations)
            {
                var generated = Directory.GetFiles(Path.Combine(output, folder)).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
                var committed = Directory.GetFiles(Path.Combine(Deploy, folder)).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
                Assert.Equal(generated, committed);
                foreach (var file in generated)
                {
                    Assert.True(File.ReadAllText(Path.Combine(output, folder, file!)) == File.ReadAllText(Path.Combine(Deploy, folder, file!)),
                        $"deploy/{folder}/{file} differs from what the AppHost generates; regenerate with " +
                        "`dotnet run --project Personalization.AppHost -- --publisher manifests --output deploy`");
                }
            }
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public async Task EveryOverlayBuildsWithKustomizeAndKeepsThePolicies()
    {
        foreach (var folder in Kustomizations)
        {
            var objects = await BuildAsync(Path.Combine(Deploy, folder));
            var kinds = objects.Select(o => Text(o, "kind")).ToList();
            foreach (var kind in new[] { "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "ConfigMap", "Component", "Configuration", "Resiliency" })
            {
                Assert.True(kinds.Contains(kind), $"{folder}: no {kind} among {string.Join(", ", kinds.Distinct())}");
            }
            Assert.DoesNotContain("Secret", kinds); // secrets are only named; their values are the operator's

            foreach (var workload in objects.Where(o => Text(o, "kind") is "Deployment" or "StatefulSet"))
            {
                var name = Text(workload, "metadata", "name");
                var isService = Text(workload, "kind") == "Deployment";
                var pod = Map(workload, "spec", "template", "spec");
                Assert.True(Text(pod, "securityContext", "runAsNonRoot") == "true", $"{folder}/{name}: not non-root");
                foreach (var container in ((YamlSequenceNode)pod.Children[new YamlScalarNode("containers")]).Cast<YamlMappingNode>())
                {
                    var image = Text(container, "image");
                    Assert.True(image.Contains(':', StringComparison.Ordinal) && !image.EndsWith(":latest", StringComparison.Ordinal), $"{folder}/{name}: image '{image}' has no pinned tag");
                    foreach (var part in new[] { "requests", "limits" })
                    {
                        Assert.True(Text(container, "resources", part, "cpu") != "" && Text(container, "resources", part, "memory") != "", $"{folder}/{name}: no cpu and memory {part}");
                    }
                    Assert.True(Text(container, "securityContext", "readOnlyRootFilesystem") == "true", $"{folder}/{name}: root filesystem writable");
                    Assert.True(Map(container, "livenessProbe").Children.Count > 0 && Map(container, "readinessProbe").Children.Count > 0, $"{folder}/{name}: no probes");
                    if (!isService) continue;
                    Assert.Equal("/alive", Text(container, "livenessProbe", "httpGet", "path"));
                    Assert.Equal("/health", Text(container, "readinessProbe", "httpGet", "path"));
                }
                var annotations = Map(workload, "spec", "template", "metadata", "annotations");
                if (Text(annotations, "dapr.io/enabled") == "true")
                {
                    Assert.Equal(name, Text(annotations, "dapr.io/app-id"));
                    Assert.Equal("8080", Text(annotations, "dapr.io/app-port"));
                }
            }
            Assert.Equal(["aggregation", "collector", "consent", "enrichment", "gateway", "profile-query", "storefront"],
                objects.Where(o => Text(o, "kind") == "Deployment").Select(o => Text(o, "metadata", "name")).Order(StringComparer.Ordinal));
            Assert.All(objects.Where(o => Text(o, "kind") == "Component"), component =>
                Assert.True(component.Children.ContainsKey(new YamlScalarNode("scopes")), $"{folder}: component {Text(component, "metadata", "name")} has no scopes"));
            Assert.All(objects.Where(o => Text(o, "kind") == "Ingress"), ingress => Assert.True(Map(ingress, "spec").Children.ContainsKey(new YamlScalarNode("tls")), "the Ingress has no TLS"));
        }
        var stores = await BuildAsync(Path.Combine(Deploy, "overlays", "in-cluster-stores"));
        Assert.Equal(["postgres", "redis"], stores.Where(o => Text(o, "kind") == "StatefulSet").Select(o => Text(o, "metadata", "name")).Order(StringComparer.Ordinal));
        var kafka = await BuildAsync(Path.Combine(Deploy, "overlays", "kafka"));
        Assert.Equal("pubsub.kafka", Text(kafka.Single(o => Text(o, "kind") == "Component" && Text(o, "metadata", "name") == "pubsub"), "spec", "type"));

        var observability = await BuildAsync(Path.Combine(Deploy, "observability"));
        Assert.Equal(["ConfigMap", "PodMonitor", "PodMonitor", "PrometheusRule"], observability.Select(o => Text(o, "kind")).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task EachDeploymentRunsTheImageItsProjectPublishes()
    {
        foreach (var deployment in (await BuildAsync(Path.Combine(Deploy, "base"))).Where(o => Text(o, "kind") == "Deployment"))
        {
            var name = Text(deployment, "metadata", "name");
            var project = RepositoryFiles.PathOf("src", "Personalization." + string.Concat(name.Split('-').Select(part => char.ToUpperInvariant(part[0]) + part[1..])));
            var (code, text) = await RunAsync("dotnet", ["msbuild", project, "-getProperty:ContainerRepository", "-getProperty:ContainerImageTag"]);
            Assert.True(code == 0, $"dotnet msbuild {project} failed: {text}");
            var properties = JsonNode.Parse(text)!["Properties"]!;
            var image = Text((YamlMappingNode)((YamlSequenceNode)Map(deployment, "spec", "template", "spec").Children[new YamlScalarNode("containers")])[0], "image");
            Assert.Equal($"{properties["ContainerRepository"]}:{properties["ContainerImageTag"]}", image);
        }
    }

    [Fact]
    public async Task EveryObjectIsValidForItsKind()
    {
        var options = new BuildOptions();
        var schemas = SchemaFiles.ToDictionary(entry => entry.Key,
            entry => JsonSchema.FromFile(Path.Combine(Deploy, "schemas", entry.Value), options), StringComparer.Ordinal);
        var checkedKinds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var folder in Kustomizations.Append("observability"))
        {
            foreach (var document in await BuildAsync(Path.Combine(Deploy, folder)))
            {
                var kind = Text(document, "kind");
                var name = $"{folder}: {kind} {Text(document, "metadata", "name")}";
                checkedKinds.Add(kind);
                if (IsKubernetesOwn(Text(document, "apiVersion")))
                {
                    var text = YamlText(document);
                    var loaded = Record.Exception(() => KubernetesYaml.LoadAllFromString(text, strict: true));
                    Assert.True(loaded is null, $"{name} is not a valid {kind}: {loaded?.Message}\n{text}");
                    continue;
                }
                Assert.True(schemas.TryGetValue(kind, out var schema), $"{name}: no schema for {kind} in deploy/schemas");
                var result = schema!.Evaluate(JsonSerializer.SerializeToElement(Json(document)), new EvaluationOptions { OutputFormat = OutputFormat.List });
                Assert.True(result.IsValid, $"{name} does not match {SchemaFiles[kind]}: " +
                    string.Join("; ", (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).Select(d => $"{d.InstanceLocation}: {string.Join(", ", d.Errors!.Values)}")));
            }
        }
        Assert.Superset(new HashSet<string>(["Deployment", "Service", "Ingress", "NetworkPolicy", "Component", "Resiliency", "PrometheusRule", "PodMonitor"]), checkedKinds);
    }

    /// <summary>Kubernetes' own API groups: the core group (<c>v1</c>), apps, autoscaling, policy and <c>*.k8s.io</c>.</summary>
    private static bool IsKubernetesOwn(string apiVersion)
    {
        var group = apiVersion.Contains('/', StringComparison.Ordinal) ? apiVersion[..apiVersion.IndexOf('/', StringComparison.Ordinal)] : "";
        return group is "" or "apps" or "autoscaling" or "policy" || group.EndsWith(".k8s.io", StringComparison.Ordinal);
    }

    /// <summary>A document as YAML text again.</summary>
    private static string YamlText(YamlMappingNode document)
    {
        using var writer = new StringWriter();
        new YamlStream(new YamlDocument(document)).Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    /// <summary>YAML as JSON: quoted scalars stay strings, plain ones become booleans, numbers or null when they read as such.</summary>
    private static JsonNode? Json(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value!, Json(c.Value)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(Json)]),
        YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded } quoted => JsonValue.Create(quoted.Value),
        YamlScalarNode { Value: "true" or "false" } flag => JsonValue.Create(flag.Value == "true"),
        YamlScalarNode { Value: "null" or "~" or "" } => null,
        YamlScalarNode scalar when long.TryParse(scalar.Value, System.Globalization.CultureInfo.InvariantCulture, out var number) => JsonValue.Create(number),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => throw new InvalidOperationException($"unexpected YAML node {node.NodeType}"),
    };

    private static async Task<List<YamlMappingNode>> BuildAsync(string folder)
    {
        var (code, text) = await RunAsync("kubectl", ["kustomize", folder]);
        Assert.True(code == 0, $"kubectl kustomize {folder} failed ({code}): {text}");
        var yaml = new YamlStream();
        yaml.Load(new StringReader(text));
        return [.. yaml.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    private static YamlMappingNode Map(YamlMappingNode node, params string[] path) =>
        path.Aggregate(node, (current, key) => current.Children.TryGetValue(new YamlScalarNode(key), out var next) && next is YamlMappingNode map ? map : new YamlMappingNode());

    private static string Text(YamlMappingNode node, params string[] path) =>
        Map(node, path[..^1]).Children.TryGetValue(new YamlScalarNode(path[^1]), out var value) && value is YamlScalarNode scalar ? scalar.Value ?? "" : "";

    /// <summary>Runs a command to its end (2 minutes at most); its exit code and standard output (error output appended when it fails).</summary>
    private static async Task<(int Code, string Output)> RunAsync(string command, string[] arguments)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryFiles.Root };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception) when (command == "kubectl")
        {
            Assert.Fail("kubectl is missing; install it (its kustomize builds the manifests): apt-get install -y kubernetes-client");
            throw;
        }
        using (process)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, process.ExitCode == 0 ? await output : await output + await error);
        }
    }
}
