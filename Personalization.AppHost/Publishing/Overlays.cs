namespace Personalization.AppHost.Publishing;

/// <summary>The overlays written beside the base: each changes only what differs from it.</summary>
public static class Overlays
{
    /// <summary>
    /// The Kafka overlay: the base with its pub/sub component on Kafka (<c>pubsub.kafka</c>; brokers from the infrastructure
    /// Secret's <c>KAFKA_BROKERS</c>, one consumer group per app id). RabbitMQ, the base's, stays the default.
    /// </summary>
    public static Dictionary<string, List<object>> Kafka() => new(StringComparer.Ordinal)
    {
        ["kustomization.yaml"] = [new Dictionary<string, object>
        {
            ["apiVersion"] = "kustomize.config.k8s.io/v1beta1",
            ["kind"] = "Kustomization",
            // bases and patchesStrategicMerge: what the kustomize inside older kubectl (Debian's) knows; newer ones still take them.
            ["bases"] = new[] { "../../base" },
            ["patchesStrategicMerge"] = new[] { "pubsub-kafka.yaml" },
        }],
        ["pubsub-kafka.yaml"] = [new Dictionary<string, object>
        {
            ["apiVersion"] = "dapr.io/v1alpha1",
            ["kind"] = "Component",
            ["metadata"] = new Dictionary<string, object> { ["name"] = "pubsub" },
            ["spec"] = new Dictionary<string, object>
            {
                ["type"] = "pubsub.kafka",
                ["version"] = "v1",
                ["metadata"] = new object[]
                {
                    new Dictionary<string, object> { ["name"] = "brokers", ["secretKeyRef"] = new Dictionary<string, object> { ["name"] = KubernetesManifests.InfrastructureSecretName, ["key"] = "KAFKA_BROKERS" } },
                    new Dictionary<string, object> { ["name"] = "authType", ["value"] = "none" },
                    new Dictionary<string, object> { ["name"] = "consumerGroup", ["value"] = "{appID}" },
                    new Dictionary<string, object> { ["name"] = "initialOffset", ["value"] = "oldest" },
                    // A bulk publish part is at most 4 MiB (the sidecar's request limit); Kafka's default message limit is 1 MB.
                    new Dictionary<string, object> { ["name"] = "maxMessageBytes", ["value"] = "4194304" },
                },
            },
        }],
    };

    /// <summary>
    /// Redis and PostgreSQL inside the cluster, for a trial or a small installation: one StatefulSet each with a volume,
    /// non-root, read-only root filesystem, pinned images, and a Service named as the Secrets then say
    /// (<c>REDIS_HOST</c> = <c>redis:6379</c>, PostgreSQL at <c>postgres:5432</c>). Their passwords come from the
    /// infrastructure Secret (<c>REDIS_PASSWORD</c>, <c>POSTGRES_PASSWORD</c>). Production stores are better run by
    /// their operators or as managed services: the base expects them outside.
    /// </summary>
    public static Dictionary<string, List<object>> InClusterStores() => new(StringComparer.Ordinal)
    {
        ["kustomization.yaml"] = [new Dictionary<string, object>
        {
            ["apiVersion"] = "kustomize.config.k8s.io/v1beta1",
            ["kind"] = "Kustomization",
            ["bases"] = new[] { "../../base" },
            ["commonLabels"] = new Dictionary<string, string> { ["app.kubernetes.io/part-of"] = KubernetesManifests.PartOf },
            ["resources"] = new[] { "redis.yaml", "postgres.yaml" },
        }],
        ["redis.yaml"] = Store("redis", "redis:7.4.2", 6379, "/data",
            command: ["redis-server", "--requirepass", "$(REDIS_PASSWORD)", "--appendonly", "yes"],
            environment: [Secret("REDIS_PASSWORD", "REDIS_PASSWORD")],
            scratch: []),
        ["postgres.yaml"] = Store("postgres", "postgres:16.8", 5432, "/var/lib/postgresql/data",
            command: [],
            environment:
            [
                Secret("POSTGRES_PASSWORD", "POSTGRES_PASSWORD"),
                new Dictionary<string, object> { ["name"] = "POSTGRES_DB", ["value"] = "personalization" },
                new Dictionary<string, object> { ["name"] = "PGDATA", ["value"] = "/var/lib/postgresql/data/pgdata" },
            ],
            scratch: ["/var/run/postgresql"]),
    };

    private static Dictionary<string, object> Secret(string name, string key) => new()
    {
        ["name"] = name,
        ["valueFrom"] = new Dictionary<string, object>
        {
            ["secretKeyRef"] = new Dictionary<string, object> { ["name"] = KubernetesManifests.InfrastructureSecretName, ["key"] = key },
        },
    };

    private static List<object> Store(string name, string image, int port, string dataPath, string[] command, object[] environment, string[] scratch)
    {
        var labels = KubernetesManifests.Labels(name);
        var mounts = new List<object> { new Dictionary<string, object> { ["name"] = "data", ["mountPath"] = dataPath } };
        var volumes = new List<object>();
        foreach (var (path, i) in scratch.Append("/tmp").Select((p, i) => (p, i)))
        {
            mounts.Add(new Dictionary<string, object> { ["name"] = $"scratch-{i}", ["mountPath"] = path });
            volumes.Add(new Dictionary<string, object> { ["name"] = $"scratch-{i}", ["emptyDir"] = new Dictionary<string, object>() });
        }
        var container = new Dictionary<string, object>
        {
            ["name"] = name,
            ["image"] = image,
            ["ports"] = new[] { new Dictionary<string, object> { ["name"] = "tcp", ["containerPort"] = port } },
            ["env"] = environment,
            ["readinessProbe"] = new Dictionary<string, object> { ["tcpSocket"] = new Dictionary<string, object> { ["port"] = "tcp" }, ["periodSeconds"] = 5 },
            ["livenessProbe"] = new Dictionary<string, object> { ["tcpSocket"] = new Dictionary<string, object> { ["port"] = "tcp" }, ["periodSeconds"] = 20 },
            ["resources"] = KubernetesManifests.Resources("250m", "256Mi", "2", "1Gi"),
            ["securityContext"] = KubernetesManifests.ContainerSecurity(),
            ["volumeMounts"] = mounts,
        };
        if (command.Length > 0) container["args"] = command;
        return
        [
            new Dictionary<string, object>
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "StatefulSet",
                ["metadata"] = KubernetesManifests.Metadata(name),
                ["spec"] = new Dictionary<string, object>
                {
                    ["serviceName"] = name,
                    ["replicas"] = 1,
                    ["selector"] = new Dictionary<string, object> { ["matchLabels"] = labels },
                    ["template"] = new Dictionary<string, object>
                    {
                        ["metadata"] = new Dictionary<string, object> { ["labels"] = labels },
                        ["spec"] = new Dictionary<string, object>
                        {
                            ["automountServiceAccountToken"] = false,
                            // The images' own unprivileged user (uid 999 in both), owning the volume through fsGroup.
                            ["securityContext"] = KubernetesManifests.PodSecurity(999, fsGroup: 999),
                            ["containers"] = new[] { container },
                            ["volumes"] = volumes,
                        },
                    },
                    ["volumeClaimTemplates"] = new[]
                    {
                        new Dictionary<string, object>
                        {
                            ["metadata"] = new Dictionary<string, object> { ["name"] = "data" },
                            ["spec"] = new Dictionary<string, object>
                            {
                                ["accessModes"] = new[] { "ReadWriteOnce" },
                                ["resources"] = new Dictionary<string, object> { ["requests"] = new Dictionary<string, object> { ["storage"] = "10Gi" } },
                            },
                        },
                    },
                },
            },
            KubernetesManifests.Service(name, port, "tcp", headless: true),
        ];
    }
}
