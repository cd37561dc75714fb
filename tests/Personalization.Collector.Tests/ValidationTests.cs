using System.Text;
using Personalization.Collector.Model;
using Personalization.Contracts;

namespace Personalization.Collector.Tests;

public sealed class ValidationTests
{
    private static FieldError OnlyError(ReadResult read, ProblemKind kind)
    {
        Assert.Empty(read.Events);
        Assert.NotNull(read.Problem);
        Assert.Equal(kind, read.Problem.Kind);
        Assert.Equal(400, read.Problem.Status);
        return Assert.Single(read.Problem.Errors);
    }

    [Fact]
    public void AnEventWithNeitherUserIdNorAnonymousIdIsRejectedNamingUserId()
    {
        var error = OnlyError(Requests.Single("track", """{"event":"Clicked"}"""), ProblemKind.InvalidEvent);
        Assert.Equal("userId", error.Field);
        Assert.Contains("anonymousId", error.Message);
    }

    [Fact]
    public void AnAnonymousIdAloneIsEnough()
    {
        var collected = Assert.Single(Requests.Single("page", """{"anonymousId":"a-1","name":"Home"}""").Events);
        Assert.Equal("a-1", collected.AnonymousId);
        Assert.Equal("Home", collected.Name);
    }

    [Fact]
    public void ATrackWithoutAnEventNameIsRejectedNamingEvent()
    {
        Assert.Equal("event", OnlyError(Requests.Single("track", """{"userId":"u1"}"""), ProblemKind.InvalidEvent).Field);
    }

    [Fact]
    public void AGroupWithoutAGroupIdIsRejectedNamingGroupId()
    {
        Assert.Equal("groupId", OnlyError(Requests.Single("group", """{"userId":"u1"}"""), ProblemKind.InvalidEvent).Field);
    }

    [Fact]
    public void AnAliasNeedsPreviousIdAndUserIdEvenWithAnAnonymousId()
    {
        var read = Requests.Single("alias", """{"anonymousId":"a-1"}""");

        Assert.NotNull(read.Problem);
        Assert.Equal(["previousId", "userId"], read.Problem.Errors.Select(e => e.Field).Order());
    }

    [Fact]
    public void AnAliasWithPreviousIdAndUserIdIsAccepted()
    {
        var collected = Assert.Single(Requests.Single("alias", """{"previousId":"a-1","userId":"u1"}""").Events);
        Assert.Equal("a-1", collected.PreviousId);
        Assert.Equal("alias", collected.Type);
    }

    [Theory]
    [InlineData("""{"userId":"u1","event":42}""", "event")]
    [InlineData("""{"userId":true,"event":"A"}""", "userId")]
    [InlineData("""{"userId":"u1","event":"A","properties":[1,2]}""", "properties")]
    [InlineData("""{"userId":"u1","event":"A","context":"web"}""", "context")]
    [InlineData("""{"userId":"u1","event":"A","traits":7}""", "traits")]
    [InlineData("""{"userId":"u1","event":"A","integrations":true}""", "integrations")]
    [InlineData("""{"userId":"u1","event":"A","timestamp":1714564800000}""", "timestamp")]
    [InlineData("""{"userId":"u1","event":"A","timestamp":"yesterday"}""", "timestamp")]
    [InlineData("""{"userId":"u1","event":"A","sentAt":"05/01/2024 10:00"}""", "sentAt")]
    [InlineData("""{"userId":"u1","event":"A","messageId":{"id":1}}""", "messageId")]
    [InlineData("""{"anonymousId":["a"],"event":"A"}""", "anonymousId")]
    public void AFieldOfTheWrongTypeIsRejectedNamingIt(string json, string field)
    {
        Assert.Equal(field, OnlyError(Requests.Single("track", json), ProblemKind.InvalidEvent).Field);
    }

    [Fact]
    public void ANumericUserIdIsTakenAsItsText()
    {
        Assert.Equal("12345", Assert.Single(Requests.Single("identify", """{"userId":12345}""").Events).UserId);
    }

    [Theory]
    [InlineData("""{"userId":"u1","event":""", "body")]
    [InlineData("""not json""", "body")]
    public void MalformedJsonIsRejectedAsInvalidJson(string json, string field)
    {
        var error = OnlyError(Requests.Single("track", json), ProblemKind.InvalidJson);
        Assert.Equal(field, error.Field);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"track\"")]
    [InlineData("")]
    public void ABodyThatIsNotAJsonObjectIsRejected(string json)
    {
        Assert.Equal("body", OnlyError(Requests.Single("track", json), ProblemKind.InvalidJson).Field);
    }

    [Fact]
    public void InvalidUtf8IsRejectedNamingTheFieldThatHoldsIt()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"userId":"u1","event":"A","properties":{"title":"caf_"}}""");
        bytes[Array.LastIndexOf(bytes, (byte)'_')] = 0xC3; // a lead byte with no continuation

        var read = Requests.Reader().ReadSingle(bytes, "track", Requests.Info);

        var error = OnlyError(read, ProblemKind.InvalidUtf8);
        Assert.Equal("properties.title", error.Field);
    }

    [Fact]
    public void InvalidUtf8InABatchNamesTheEventIndex()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"batch":[{"type":"track","userId":"u1","event":"A"},{"type":"track","userId":"u1","event":"B_"}]}""");
        bytes[Array.LastIndexOf(bytes, (byte)'_')] = 0xFF;

        var error = OnlyError(Requests.Reader().ReadBatch(bytes, Requests.Info), ProblemKind.InvalidUtf8);
        Assert.Equal("batch[1].event", error.Field);
    }

    [Fact]
    public void AnEventOverTheLimitIsRejectedNamingTheLimit()
    {
        var options = new CollectorOptions();
        var json = $$$"""{"userId":"u1","event":"A","properties":{"blob":"{{{new string('x', options.MaxEventBytes)}}}"}}""";

        var read = Requests.Single("track", json, options);

        OnlyError(read, ProblemKind.EventTooLarge);
        Assert.Equal("urn:personalization:problem:event-too-large", read.Problem!.Type);
        Assert.Contains("32768", read.Problem.Detail);
    }

    [Fact]
    public void AnEventJustUnderTheLimitIsAccepted()
    {
        var options = new CollectorOptions();
        const string prefix = "{\"userId\":\"u1\",\"event\":\"A\",\"properties\":{\"blob\":\"";
        const string suffix = "\"}}";
        var json = prefix + new string('x', options.MaxEventBytes - prefix.Length - suffix.Length) + suffix;
        Assert.Equal(options.MaxEventBytes, Encoding.UTF8.GetByteCount(json));

        Assert.Single(Requests.Single("track", json, options).Events);
    }

    [Fact]
    public void MessageIdIsGeneratedWhenMissingAndKeptWhenGiven()
    {
        var generated = Assert.Single(Requests.Single("track", """{"userId":"u1","event":"A"}""").Events);
        var kept = Assert.Single(Requests.Single("track", """{"userId":"u1","event":"A","messageId":"m-1"}""").Events);

        Assert.True(Guid.TryParse(generated.MessageId, out _));
        Assert.Equal("m-1", kept.MessageId);
    }

    [Fact]
    public void NormalizationStampsReceivedAtSourceAndTheClientIp()
    {
        var collected = Assert.Single(Requests.Single("identify", """{"userId":"u1","traits":{"plan":"pro"}}""").Events);

        Assert.Equal(Requests.ReceivedAt, collected.ReceivedAt);
        Assert.Equal(Requests.ReceivedAt, collected.Timestamp);
        Assert.Equal("web", collected.Source);
        Assert.Equal("203.0.113.7", (string?)collected.Context!["ip"]);
        Assert.Equal("pro", (string?)collected.Traits!["plan"]);
    }

    [Fact]
    public void UnknownFieldsAreIgnored()
    {
        var collected = Assert.Single(Requests.Single("track", """{"userId":"u1","event":"A","version":2,"_metadata":{"x":[1]},"writeKey":"k"}""").Events);
        Assert.Equal("A", collected.Event);
    }

    [Fact]
    public void TheTypeInASingleEventBodyDoesNotOverrideTheEndpoint()
    {
        Assert.Equal("track", Assert.Single(Requests.Single("track", """{"type":"identify","userId":"u1","event":"A"}""").Events).Type);
    }

    [Theory]
    [InlineData("t", "track")]
    [InlineData("i", "identify")]
    [InlineData("p", "page")]
    [InlineData("s", "screen")]
    [InlineData("g", "group")]
    [InlineData("a", "alias")]
    [InlineData("track", "track")]
    public void ShortAndLongPathsMapToTheirEventType(string path, string type)
    {
        Assert.Equal(type, SegmentRequestReader.TypeOfPath(path));
    }

    [Fact]
    public void ProblemTypesAreStablePerKind()
    {
        Assert.Equal("urn:personalization:problem:invalid-json", new RequestProblem(ProblemKind.InvalidJson, "", "", []).Type);
        Assert.Equal("urn:personalization:problem:invalid-utf8", new RequestProblem(ProblemKind.InvalidUtf8, "", "", []).Type);
        Assert.Equal("urn:personalization:problem:invalid-event", new RequestProblem(ProblemKind.InvalidEvent, "", "", []).Type);
        Assert.Equal("urn:personalization:problem:batch-too-large", new RequestProblem(ProblemKind.BatchTooLarge, "", "", []).Type);
        Assert.Equal(503, new RequestProblem(ProblemKind.Unavailable, "", "", []).Status);
    }

    [Theory]
    [InlineData(SegmentRequestReader.MaxDepth - 2, true)]
    [InlineData(SegmentRequestReader.MaxDepth + 1, false)]
    public void NestingBeyondTheDepthLimitIsRejectedNamingTheLimit(int depth, bool accepted)
    {
        var nested = string.Concat(Enumerable.Repeat("{\"d\":", depth)) + "1" + new string('}', depth);
        var read = Requests.Single("track", $$"""{"userId":"u1","event":"Deep","properties":{{nested}}}""");

        Assert.Equal(accepted, read.Problem is null);
        if (!accepted)
        {
            Assert.Contains($"more than {SegmentRequestReader.MaxDepth} levels", Assert.Single(read.Problem!.Errors).Message);
        }
    }

    [Theory]
    [InlineData("userId")]
    [InlineData("anonymousId")]
    [InlineData("messageId")]
    public void AnIdContainingDaprsKeySeparatorIsRejectedNamingIt(string field)
    {
        var read = Requests.Single("track", $$"""{"userId":"u1","anonymousId":"a1","event":"A","{{field}}":"x||y"}""");

        var error = OnlyError(read, ProblemKind.InvalidEvent);
        Assert.Equal(field, error.Field);
        Assert.Contains("||", error.Message);
    }

    [Theory]
    [InlineData("userId")]
    [InlineData("anonymousId")]
    public void TheHeartbeatsIdIsReservedAndRefusedNamingTheField(string field)
    {
        var read = Requests.Single("track", $$"""{"userId":"u1","anonymousId":"a1","event":"A","{{field}}":"{{Heartbeat.ProfileId}}"}""");

        var error = OnlyError(read, ProblemKind.InvalidEvent);
        Assert.Equal(field, error.Field);
        Assert.Contains("reserved", error.Message);
    }
}
