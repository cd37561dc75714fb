using Personalization.Sidecar.Components;
using Personalization.Sidecar.Subscriptions;

namespace Personalization.Sidecar.Tests;

public sealed class ResourceLoaderTests
{
    private const string Components = """
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: envsecrets
        spec:
          type: secretstores.local.env
          version: v1
        ---
        apiVersion: dapr.io/v1alpha1
        kind: Component
        metadata:
          name: statestore
        spec:
          type: state.redis
          version: v1
          metadata:
          - name: redisHost
            secretKeyRef:
              name: SIDECAR_TEST_REDIS_HOST
              key: SIDECAR_TEST_REDIS_HOST
          - name: keyPrefix
            value: name
        auth:
          secretStore: envsecrets
        scopes: [collector]
        """;

    [Fact]
    public void EveryDocumentOfAFileIsRead()
    {
        var documents = ResourceLoader.Parse(Components, "components.yaml");

        Assert.Equal(["envsecrets", "statestore"], documents.Select(d => d.Name));
        Assert.Equal(["collector"], documents[1].Scopes);
    }

    [Fact]
    public void SecretKeyRefIsResolvedFromTheEnvironmentThroughTheNamedSecretStore()
    {
        Environment.SetEnvironmentVariable("SIDECAR_TEST_REDIS_HOST", "127.0.0.1:6390");

        var components = ComponentDefinition.Resolve(ResourceLoader.Parse(Components, "c.yaml"), "collector");

        var redis = Assert.Single(components, c => c.Type == "state.redis");
        Assert.Equal("127.0.0.1:6390", redis.Get("redisHost"));
        Assert.Equal("name", redis.Get("keyPrefix"));
    }

    [Fact]
    public void AComponentScopedToOtherAppsIsNotLoaded()
    {
        Environment.SetEnvironmentVariable("SIDECAR_TEST_REDIS_HOST", "127.0.0.1:6390");

        var components = ComponentDefinition.Resolve(ResourceLoader.Parse(Components, "c.yaml"), "consent");

        Assert.DoesNotContain(components, c => c.Name == "statestore");
        Assert.Contains(components, c => c.Name == "envsecrets");
    }

    [Fact]
    public void AMissingSecretStopsTheStartNamingIt()
    {
        var yaml = Components.Replace("SIDECAR_TEST_REDIS_HOST", "SIDECAR_TEST_NOT_SET_ANYWHERE", StringComparison.Ordinal);

        var error = Assert.Throws<ResourceException>(() => ComponentDefinition.Resolve(ResourceLoader.Parse(yaml, "c.yaml"), "collector"));

        Assert.Contains("SIDECAR_TEST_NOT_SET_ANYWHERE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedYamlIsAnErrorNamingTheFile()
    {
        var error = Assert.Throws<ResourceException>(() => ResourceLoader.Parse("kind: Component\nmetadata:\n  name: [unclosed\nspec: {type: x", "broken.yaml"));

        Assert.Contains("broken.yaml", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("state.no-such-kind", "v1", "state.no-such-kind")]
    [InlineData("state.postgresql", "v1", "v1")]
    public void AnUnsupportedComponentTypeOrVersionIsAnErrorNamingIt(string type, string version, string named)
    {
        var yaml = $"""
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata: {"{"}name: mystery{"}"}
            spec: {"{"}type: {type}, version: {version}{"}"}
            """;

        var error = Assert.Throws<ResourceException>(() => ComponentDefinition.Resolve(ResourceLoader.Parse(yaml, "m.yaml"), "a"));

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Contains("mystery", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownKindIsAnError() =>
        Assert.Contains("Widget", Assert.Throws<ResourceException>(() =>
            ResourceLoader.Parse("apiVersion: v1\nkind: Widget\nmetadata: {name: w}\nspec: {}", "w.yaml")).Message, StringComparison.Ordinal);

    [Fact]
    public void ADeclarativeSubscriptionReadsRoutesDeadLetterBulkAndMetadata()
    {
        var doc = ResourceLoader.Parse("""
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata:
              name: orders
            spec:
              pubsubname: pubsub
              topic: orders
              routes:
                rules:
                - match: event.type == "order.big"
                  path: big
                default: /orders
              deadLetterTopic: orders-dead
              bulkSubscribe: {enabled: true, maxMessagesCount: 10, maxAwaitDurationMs: 50}
              metadata: {rawPayload: "true"}
            scopes: [aggregation]
            """, "s.yaml").Single();

        var subscription = SubscriptionDefinition.FromDocument(doc);

        Assert.Equal(("pubsub", "orders", "orders-dead"), (subscription.PubsubName, subscription.Topic, subscription.DeadLetterTopic));
        Assert.Equal(["/big", "/orders"], subscription.Rules.Select(r => r.Path));
        Assert.Equal(new BulkSubscribeOptions(true, 10, 50), subscription.Bulk);
        Assert.True(subscription.RawPayload);
        Assert.False(doc.AppliesTo("consent"));
    }

    [Fact]
    public void ADeclarativeSubscriptionWithAnUnsupportedMatchFailsAtLoad()
    {
        var doc = ResourceLoader.Parse("""
            apiVersion: dapr.io/v2alpha1
            kind: Subscription
            metadata: {name: s}
            spec:
              pubsubname: pubsub
              topic: t
              routes:
                rules:
                - {match: 'event.data.size > 10', path: big}
            """, "s.yaml").Single();

        var error = Assert.Throws<ResourceException>(() => SubscriptionDefinition.FromDocument(doc));

        Assert.Contains("event.data.size > 10", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5s", 5000)]
    [InlineData("500ms", 500)]
    [InlineData("1m30s", 90000)]
    [InlineData("1h", 3600000)]
    public void GoDurationsAreParsed(string text, int milliseconds)
    {
        Assert.True(GoDuration.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("5 parsecs")]
    [InlineData("")]
    public void NonDurationsAreRejected(string text) => Assert.False(GoDuration.TryParse(text, out _));
}
