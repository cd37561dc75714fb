using System.Text;
using System.Text.Json;
using Personalization.Sidecar.State;
using Personalization.Sidecar.Subscriptions;

namespace Personalization.Sidecar.Tests;

public sealed class SubscriptionDefinitionTests
{
    [Fact]
    public void TheAppsSubscribeAnswerIsReadWithRoutesRulesAndOptions()
    {
        var json = """
            [{"pubsubName":"pubsub","topic":"orders","route":"orders"},
             {"pubsubname":"pubsub","topic":"events","routes":{"default":"events","rules":[{"match":"event.type == \"big\"","path":"/big"}]},
              "deadLetterTopic":"events-dead","metadata":{"rawPayload":"true"},
              "bulkSubscribe":{"enabled":true,"maxMessagesCount":5,"maxAwaitDurationMs":40}}]
            """;

        var subscriptions = SubscriptionDefinition.FromProgrammatic(Encoding.UTF8.GetBytes(json));

        Assert.Equal(2, subscriptions.Count);
        Assert.Equal(["/orders"], subscriptions[0].Rules.Select(r => r.Path));
        Assert.Null(subscriptions[0].DeadLetterTopic);
        var events = subscriptions[1];
        Assert.Equal("pubsub", events.PubsubName);
        Assert.Equal("events-dead", events.DeadLetterTopic);
        Assert.True(events.RawPayload);
        Assert.Equal(new BulkSubscribeOptions(true, 5, 40), events.Bulk);
        Assert.Equal("PROGRAMMATIC", events.Type);

        Assert.Equal("/big", events.Route(JsonDocument.Parse("""{"type":"big"}""").RootElement));
        Assert.Equal("/events", events.Route(JsonDocument.Parse("""{"type":"small"}""").RootElement));
    }

    [Fact]
    public void WithoutADefaultAnUnmatchedEventHasNoRoute()
    {
        var json = """[{"pubsubName":"p","topic":"t","routes":{"rules":[{"match":"event.type == \"a\"","path":"a"}]}}]""";

        var subscription = SubscriptionDefinition.FromProgrammatic(Encoding.UTF8.GetBytes(json)).Single();

        Assert.Null(subscription.Route(JsonDocument.Parse("""{"type":"b"}""").RootElement));
    }

    [Fact]
    public void AnUnsupportedMatchInTheSubscribeAnswerIsRefused() =>
        Assert.Throws<CelException>(() => SubscriptionDefinition.FromProgrammatic(Encoding.UTF8.GetBytes(
            """[{"pubsubName":"p","topic":"t","routes":{"rules":[{"match":"size(event.data) > 1","path":"a"}]}}]""")));

    [Theory]
    [InlineData("", "collector||k")]
    [InlineData("appid", "collector||k")]
    [InlineData("name", "statestore||k")]
    [InlineData("none", "k")]
    [InlineData("shared", "shared||k")]
    public void StateKeysArePrefixedAsDaprdDoes(string keyPrefix, string stored)
    {
        var keys = new StateKeys("statestore", "collector", keyPrefix);

        Assert.Equal(stored, keys.ToStored("k"));
        Assert.Equal("k", keys.FromStored(stored));
    }

    [Fact]
    public void AKeyContainingTheSeparatorIsRefused() =>
        Assert.Throws<ArgumentException>(() => new StateKeys("s", "a", "").ToStored("x||y"));
}
