using System.Text;
using Personalization.Sidecar.Subscriptions;

namespace Personalization.Sidecar.Tests;

public sealed class AppAnswerTests
{
    [Theory]
    [InlineData(200, "", DeliveryResult.Success)]
    [InlineData(204, "", DeliveryResult.Success)]
    [InlineData(200, "plain text", DeliveryResult.Success)]
    [InlineData(200, "{}", DeliveryResult.Success)]
    [InlineData(200, """{"status":"SUCCESS"}""", DeliveryResult.Success)]
    [InlineData(200, """{"status":"RETRY"}""", DeliveryResult.Retry)]
    [InlineData(200, """{"status":"success"}""", DeliveryResult.Retry)]
    [InlineData(200, """{"status":"MAYBE"}""", DeliveryResult.Retry)]
    [InlineData(200, """{"status":"DROP"}""", DeliveryResult.Drop)]
    [InlineData(404, "", DeliveryResult.Drop)]
    [InlineData(500, """{"status":"SUCCESS"}""", DeliveryResult.Retry)]
    [InlineData(400, "", DeliveryResult.Retry)]
    [InlineData(503, "", DeliveryResult.Retry)]
    public void TheAppsAnswerIsReadAsDaprReadsIt(int status, string body, DeliveryResult expected) =>
        Assert.Equal(expected, AppAnswer.Classify(status, Encoding.UTF8.GetBytes(body)));

    [Fact]
    public void BulkStatusFieldsMatchIgnoringCaseAsInGoAndUnknownFieldsAreIgnored()
    {
        const string body = """{"Statuses":[{"EntryID":"a","STATUS":"SUCCESS","extra":1},{"entryid":"b","Status":"DROP"},{"entryId":7,"status":"SUCCESS"}]}""";

        var results = AppAnswer.ClassifyBulk(200, Encoding.UTF8.GetBytes(body), ["a", "b"]);

        Assert.Equal(DeliveryResult.Success, results["a"]);
        Assert.Equal(DeliveryResult.Drop, results["b"]);
    }

    [Fact]
    public void BulkStatusesApplyPerEntryAndEntriesLeftOutAreRetried()
    {
        var body = """{"statuses":[{"entryId":"a","status":"SUCCESS"},{"entryId":"b","status":"DROP"},{"entryId":"c","status":"RETRY"}]}""";

        var results = AppAnswer.ClassifyBulk(200, Encoding.UTF8.GetBytes(body), ["a", "b", "c", "d"]);

        Assert.Equal(DeliveryResult.Success, results["a"]);
        Assert.Equal(DeliveryResult.Drop, results["b"]);
        Assert.Equal(DeliveryResult.Retry, results["c"]);
        Assert.Equal(DeliveryResult.Retry, results["d"]);
    }

    [Theory]
    [InlineData(404, DeliveryResult.Drop)]
    [InlineData(500, DeliveryResult.Retry)]
    public void AFailedBulkCallAppliesToEveryEntry(int status, DeliveryResult expected) =>
        Assert.All(AppAnswer.ClassifyBulk(status, [], ["a", "b"]).Values, r => Assert.Equal(expected, r));
}
