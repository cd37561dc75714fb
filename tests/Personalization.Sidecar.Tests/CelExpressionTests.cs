using System.Text.Json;
using Personalization.Sidecar.Subscriptions;

namespace Personalization.Sidecar.Tests;

public sealed class CelExpressionTests
{
    private static readonly JsonElement Event = JsonDocument.Parse("""
        {"type":"order.created","source":"collector","data":{"kind":"big","count":3,"vip":true}}
        """).RootElement;

    [Theory]
    [InlineData("event.type == \"order.created\"", true)]
    [InlineData("event.type == 'order.created'", true)]
    [InlineData("event.type != \"order.created\"", false)]
    [InlineData("\"collector\" == event.source", true)]
    [InlineData("event.type == \"order.created\" && event.source == \"web\"", false)]
    [InlineData("event.type == \"x\" || event.source == \"collector\"", true)]
    [InlineData("(event.type == \"x\" || event.type == \"order.created\") && event.source == \"collector\"", true)]
    [InlineData("event.data.kind == \"big\"", true)]
    [InlineData("event.data.count == \"3\"", true)]
    [InlineData("event.data.vip == \"true\"", true)]
    [InlineData("event.missing == \"\"", false)]
    [InlineData("event.missing != \"x\"", true)]
    public void SupportedExpressionsEvaluateAgainstTheCloudEvent(string expression, bool expected) =>
        Assert.Equal(expected, CelExpression.Parse(expression).Evaluate(Event));

    [Theory]
    [InlineData("event.data.count > 2")]
    [InlineData("event.type.startsWith(\"order\")")]
    [InlineData("!(event.type == \"x\")")]
    [InlineData("event.data.count == 3")]
    [InlineData("event.type in [\"a\"]")]
    [InlineData("type == \"x\"")]
    [InlineData("event.type == \"unterminated")]
    [InlineData("event.type == \"x\" &&")]
    [InlineData("(event.type == \"x\"")]
    [InlineData("event.type")]
    public void AnythingElseIsRejectedWhenParsed(string expression)
    {
        var error = Assert.Throws<CelException>(() => CelExpression.Parse(expression));

        Assert.Contains(expression, error.Message, StringComparison.Ordinal);
    }
}
