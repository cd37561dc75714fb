namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

/// <summary>A temporary --resources-path folder with the Component / Resiliency YAML one test class needs.</summary>
public sealed class ResourcesFolder : IDisposable
{
    public const string RedisStore = "statestore";
    public const string PostgresStore = "pgstore";
    public const string PubSub = "pubsub";

    public ResourcesFolder()
    {
        Path = Directory.CreateTempSubdirectory("sidecar-conformance-resources-").FullName;
    }

    public string Path { get; }

    public ResourcesFolder Write(string fileName, string yaml)
    {
        File.WriteAllText(System.IO.Path.Combine(Path, fileName), yaml);
        return this;
    }

    public ResourcesFolder WithRedisStateStore(InfrastructureFixture infra, string name = RedisStore) => Write($"{name}.yaml", $"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: {name}
        spec:
          type: state.redis
          version: v1
          metadata:
          - name: redisHost
            value: "{infra.RedisHost}"
          - name: redisPassword
            value: "{infra.RedisPassword}"
        """);

    public ResourcesFolder WithPostgresStateStore(InfrastructureFixture infra, string name = PostgresStore) => Write($"{name}.yaml", $"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: {name}
        spec:
          type: state.postgresql
          version: v2
          metadata:
          - name: connectionString
            value: "{infra.PostgresForDapr.Replace("\"", "\\\"", StringComparison.Ordinal)}"
        """);

    public ResourcesFolder WithRabbitPubSub(InfrastructureFixture infra, string name = PubSub) => Write($"{name}.yaml", $"""
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: {name}
        spec:
          type: pubsub.rabbitmq
          version: v1
          metadata:
          - name: connectionString
            value: "{infra.RabbitMq}"
          - name: durable
            value: "true"
          - name: deletedWhenUnused
            value: "false"
          - name: deliveryMode
            value: "2"
          - name: requeueInFailure
            value: "false"
          - name: prefetchCount
            value: "20"
        """);

    /// <summary>Short, constant retries on the pub/sub inbound direction so failure cases finish fast.</summary>
    public ResourcesFolder WithInboundRetries(int maxRetries, string duration = "100ms", string pubsub = PubSub) => Write("resiliency.yaml", $"""
        apiVersion: dapr.io/v1alpha1
        kind: Resiliency
        metadata:
          name: conformance
        spec:
          policies:
            retries:
              inboundRetry:
                policy: constant
                duration: {duration}
                maxRetries: {maxRetries}
          targets:
            components:
              {pubsub}:
                inbound:
                  retry: inboundRetry
        """);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
