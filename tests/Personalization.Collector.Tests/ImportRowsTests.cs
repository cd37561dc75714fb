using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Microsoft.Extensions.Time.Testing;
using Personalization.Collector.Model;

namespace Personalization.Collector.Tests;

public sealed class ImportRowsTests
{
    private const int MaxRow = 1024;

    private static async Task<List<ImportRow>> CsvAsync(string csv, string? defaultType = null)
    {
        var (columns, problem) = await ImportRows.ReadHeaderAsync(new MemoryStream(Encoding.UTF8.GetBytes(csv)), MaxRow, CancellationToken.None);
        Assert.Null(problem);
        var rows = new List<ImportRow>();
        await foreach (var row in ImportRows.ReadCsvAsync(new MemoryStream(Encoding.UTF8.GetBytes(csv)), columns!, defaultType, MaxRow, CancellationToken.None))
        {
            rows.Add(row);
        }
        return rows;
    }

    private static async Task<List<ImportRow>> NdjsonAsync(byte[] body)
    {
        var rows = new List<ImportRow>();
        await foreach (var row in ImportRows.ReadNdjsonAsync(new MemoryStream(body), MaxRow, CancellationToken.None)) rows.Add(row);
        return rows;
    }

    private static JsonObject Message(ImportRow row) => JsonNode.Parse(row.Message!)!.AsObject();

    [Theory]
    [InlineData("text/csv", ImportFormat.Csv)]
    [InlineData("text/csv; charset=utf-8", ImportFormat.Csv)]
    [InlineData("application/x-ndjson", ImportFormat.Ndjson)]
    [InlineData("Application/JSONL", ImportFormat.Ndjson)]
    [InlineData("application/json", null)]
    [InlineData("multipart/form-data; boundary=x", null)]
    [InlineData(null, null)]
    public void TheContentTypeNamesTheFormat(string? contentType, ImportFormat? format) =>
        Assert.Equal(format, ImportRows.FormatOf(contentType));

    [Fact]
    public async Task CsvColumnsFillSegmentFieldsNestedObjectsAndTraitsOrPropertiesByType()
    {
        var rows = await CsvAsync("""
            userId,event,email,properties.revenue,context.campaign.name,zip:string,vip:boolean,tags:json
            u1,,a@example.com,,spring,01234,true,"[""a"",""b""]"
            u1,Order Completed,,49.90,,,,
            """);

        var identify = Message(rows[0]);
        Assert.Equal("identify", identify["type"]!.GetValue<string>());
        Assert.Equal("a@example.com", identify["traits"]!["email"]!.GetValue<string>());
        Assert.Equal("01234", identify["traits"]!["zip"]!.GetValue<string>());
        Assert.True(identify["traits"]!["vip"]!.GetValue<bool>());
        Assert.Equal(2, identify["traits"]!["tags"]!.AsArray().Count);
        Assert.Equal("spring", identify["context"]!["campaign"]!["name"]!.GetValue<string>());

        var track = Message(rows[1]);
        Assert.Equal("track", track["type"]!.GetValue<string>());
        Assert.Equal(49.90m, track["properties"]!["revenue"]!.GetValue<decimal>());
        Assert.Null(track["traits"]);
        Assert.Equal(2, rows[1].Line - rows[0].Line + 1);
    }

    [Theory]
    [InlineData("42", true)]
    [InlineData("-1.5e3", true)]
    [InlineData("007", false)] // a leading zero: an identifier, not a number
    [InlineData("1234567890123456", false)] // more digits than a double keeps
    [InlineData("+49", false)]
    [InlineData("1,5", false)]
    public async Task AnUntypedCellIsANumberOnlyWhenItReadsAsOneExactly(string cell, bool isNumber)
    {
        var row = Assert.Single(await CsvAsync($"userId,value\nu1,\"{cell}\"\n"));
        var value = Message(row)["traits"]!["value"]!;
        Assert.Equal(isNumber, value.GetValueKind() == System.Text.Json.JsonValueKind.Number);
    }

    [Fact]
    public async Task ABadRowIsRejectedAloneWithItsLine()
    {
        var rows = await CsvAsync("userId,count:number\nu1,1\nu2,many\nu3,\"x\"y\nu4,4,extra\n\"multi\nline\",5\nu6,6\n");

        Assert.Equal([2L, 3, 4, 5, 6, 8], rows.Select(r => r.Line));
        Assert.Null(rows[0].Problem);
        Assert.Equal(("count", "'many' is not a number"), (rows[1].Problem!.Field, rows[1].Problem!.Message));
        Assert.StartsWith("is not valid CSV", rows[2].Problem!.Message);
        Assert.Equal("has 3 columns; the header has 2", rows[3].Problem!.Message);
        Assert.Equal("multi\nline", Message(rows[4])["userId"]!.GetValue<string>());
        Assert.Null(rows[5].Problem);
    }

    [Theory]
    [InlineData("userId,userid", "header column 2")]
    [InlineData("userId,plan:money", "header column 2")]
    [InlineData("userId,traits", "header column 2")]
    [InlineData("userId,traits..x", "header column 2")]
    [InlineData("userId:number", "header column 1")]
    [InlineData("\n", "header")] // blank lines only
    public async Task AHeaderThatCannotBeReadRefusesTheFile(string header, string field)
    {
        var body = header == "\n" ? "\n\n" : header + "\nu1,x\n";
        var (columns, problem) = await ImportRows.ReadHeaderAsync(new MemoryStream(Encoding.UTF8.GetBytes(body)), MaxRow, CancellationToken.None);
        Assert.Null(columns);
        Assert.Equal(field, problem!.Field);
    }

    [Fact]
    public async Task NdjsonLinesSkipBlanksAndRejectAnOverlongLineWithoutHoldingIt()
    {
        var longLine = "{\"userId\":\"" + new string('x', 100_000) + "\"}";
        var rows = await NdjsonAsync(Encoding.UTF8.GetBytes($"{{\"a\":1}}\r\n\n  \n{longLine}\n{{\"b\":2}}"));

        Assert.Equal([1L, 4, 5], rows.Select(r => r.Line));
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(rows[0].Message!));
        Assert.Equal("line", rows[1].Problem!.Field);
        Assert.Equal("{\"b\":2}", Encoding.UTF8.GetString(rows[2].Message!));
    }

    [Fact]
    public void TheSameRowFromTheSameSourceAlwaysGetsTheSameIdAndAnyChangeAnother() =>
        Gen.String.Select(Gen.String, Gen.String).Sample((source, row, other) =>
        {
            var id = ImportRows.DeterministicId(source, Encoding.UTF8.GetBytes(row));
            Assert.Equal(id, ImportRows.DeterministicId(source, Encoding.UTF8.GetBytes(row)));
            Assert.Equal(other == row, id == ImportRows.DeterministicId(source, Encoding.UTF8.GetBytes(other)));
            Assert.NotEqual(id, ImportRows.DeterministicId(source + "x", Encoding.UTF8.GetBytes(row)));
        });

    [Fact]
    public void AnImportedRowWithoutAMessageIdGetsItsDeterministicIdAndAnOldTimestampIsKept()
    {
        var reader = new SegmentRequestReader(new CollectorOptions());
        var message = """{"userId":"u1","event":"Order Completed","timestamp":"2019-03-01T00:00:00Z"}"""u8.ToArray();

        var (collected, problem) = reader.ReadImported(message, "track", new RequestInfo(DateTimeOffset.UtcNow, "crm"));

        Assert.Null(problem);
        Assert.Equal(ImportRows.DeterministicId("crm", message), collected!.MessageId);
        Assert.Equal(new DateTimeOffset(2019, 3, 1, 0, 0, 0, TimeSpan.Zero), collected.Timestamp);
        Assert.Equal("type", reader.ReadImported("""{"userId":"u1"}"""u8.ToArray(), null, default).Problem!.Field);
    }

    [Fact]
    public void TheThrottleHalvesWhenLiveTrafficIsLateAndGrowsBackWithinItsBoundsWhileInUse()
    {
        var options = new ImportOptions { MinRowsPerSecond = 100, MaxRowsPerSecond = 2_000, TargetFreshness = TimeSpan.FromMilliseconds(500) };
        Assert.Equal(100, new ImportThrottle(options, new FakeTimeProvider()).RowsPerSecond);

        // A throttle of its own per sample: CsCheck runs samples on several threads at once.
        Gen.Int[0, 2_000].Select(Gen.Bool).Array[1, 50].Sample(steps =>
        {
            var throttle = new ImportThrottle(options, new FakeTimeProvider());
            foreach (var (lag, used) in steps)
            {
                if (used) throttle.Reserve(1);
                var before = throttle.RowsPerSecond;
                throttle.Observe(TimeSpan.FromMilliseconds(lag));
                var after = throttle.RowsPerSecond;
                Assert.InRange(after, 100, 2_000);
                if (lag > 500) Assert.Equal(Math.Max(100, before / 2), after);
                else if (lag < 250 && used) Assert.Equal(Math.Min(2_000, before + Math.Max(100, before / 10)), after);
                else Assert.Equal(before, after);
            }
        });
    }

    [Fact]
    public void AnIdleThrottleDoesNotGrowAndEveryImportStartsSlow()
    {
        var throttle = new ImportThrottle(new ImportOptions { MinRowsPerSecond = 100, MaxRowsPerSecond = 2_000 }, new FakeTimeProvider());
        for (var i = 0; i < 10; i++) throttle.Observe(TimeSpan.Zero);
        Assert.Equal(100, throttle.RowsPerSecond);
        for (var i = 0; i < 10; i++)
        {
            throttle.Reserve(1);
            throttle.Observe(TimeSpan.Zero);
        }
        Assert.True(throttle.RowsPerSecond > 1_000);
        throttle.Start();
        Assert.Equal(100, throttle.RowsPerSecond);
    }

    [Fact]
    public void TheThrottlePacesRowsAtItsRate()
    {
        var time = new FakeTimeProvider();
        var throttle = new ImportThrottle(new ImportOptions { MaxRowsPerSecond = 1_000, TargetFreshness = TimeSpan.Zero }, time);

        Assert.Equal(TimeSpan.Zero, throttle.Reserve(500));
        Assert.Equal(TimeSpan.FromMilliseconds(500), throttle.Reserve(500));
        Assert.Equal(TimeSpan.FromSeconds(1), throttle.Reserve(100));
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(TimeSpan.Zero, throttle.Reserve(1));
    }

    [Fact]
    public void LiveTrafficIsAsLateAsTheLastHeartbeatOrTheOneOverdue()
    {
        var now = new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
        var interval = TimeSpan.FromSeconds(5);
        Assert.Null(ImportThrottle.Lag(null, now, interval));
        Assert.Equal(TimeSpan.FromMilliseconds(120), ImportThrottle.Lag(new(now.AddSeconds(-3), now.AddSeconds(-2), 120), now, interval));
        Assert.Equal(TimeSpan.FromSeconds(25), ImportThrottle.Lag(new(now.AddSeconds(-31), now.AddSeconds(-30), 120), now, interval));
    }
}
