using Personalization.Gateway.Model;

namespace Personalization.Gateway.Tests;

public sealed class CorrelationIdTests
{
    [Fact]
    public void APlainClientIdIsKept()
    {
        Assert.Equal("req-42.a_b:c", CorrelationId.Resolve("req-42.a_b:c"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("line\nbreak")]
    public void AMissingOrOddIdIsReplacedByANewOne(string? presented)
    {
        var id = CorrelationId.Resolve(presented);

        Assert.NotEqual(presented, id);
        Assert.True(CorrelationId.IsAcceptable(id));
    }

    [Fact]
    public void AnOverlongIdIsReplaced()
    {
        Assert.Equal(32, CorrelationId.Resolve(new string('a', CorrelationId.MaxLength + 1)).Length);
    }
}
