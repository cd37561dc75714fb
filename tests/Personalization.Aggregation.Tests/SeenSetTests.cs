using CsCheck;
using Personalization.Aggregation.Model;

namespace Personalization.Aggregation.Tests;

public sealed class SeenSetTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Window = TimeSpan.FromHours(24);

    [Fact]
    public void AnIdAddedIsSeenUntilTheWindowEnds()
    {
        var seen = SeenSet.Empty().With(["m1"], Now, Window, 100);
        Assert.True(seen.Contains("m1", Now.AddHours(23)));
        Assert.False(seen.Contains("m1", Now.AddHours(24)));
        Assert.False(seen.Contains("m2", Now));
    }

    [Fact]
    public void ExpiredIdsAreDroppedWhenTheSetIsWrittenAgain()
    {
        var seen = SeenSet.Empty().With(["old"], Now, Window, 100).With(["new"], Now.AddHours(25), Window, 100);
        Assert.Equal(["new"], seen.Ids.Keys);
    }

    [Fact]
    public void OverTheCapTheNewestAreKept()
    {
        var seen = SeenSet.Empty().With(["a", "b"], Now, Window, 3).With(["c", "d"], Now.AddMinutes(1), Window, 3);
        Assert.Equal(3, seen.Ids.Count);
        Assert.Contains("c", seen.Ids.Keys);
        Assert.Contains("d", seen.Ids.Keys);
    }

    [Fact]
    public void TheResultDependsOnTheIdsNotOnTheirOrder()
    {
        Gen.String[Gen.Char.AlphaNumeric, 1, 4].Array[0, 30].Sample(ids =>
        {
            var reversed = ids.Reverse().ToArray();
            var a = SeenSet.Empty().With(ids, Now, Window, 10).Ids.OrderBy(p => p.Key, StringComparer.Ordinal);
            var b = SeenSet.Empty().With(reversed, Now, Window, 10).Ids.OrderBy(p => p.Key, StringComparer.Ordinal);
            Assert.Equal(a, b);
        });
    }
}
