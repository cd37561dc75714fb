using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Personalization.EndToEndTests;

/// <summary>Bulk import through the gateway (<c>POST /v1/imports</c>): CRM records and historical events, progress, rejections, counted once.</summary>
[Collection(PlatformCollection.Name)]
public sealed class ImportTests(PlatformFixture platform)
{
    private static HttpRequestMessage ImportRequest(byte[] body, string contentType, string key = GatewayClient.WriteKey, bool gzip = false, string query = "")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/imports" + query);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (gzip)
        {
            using var compressed = new MemoryStream();
            using (var zip = new GZipStream(compressed, CompressionLevel.Fastest)) zip.Write(body);
            body = compressed.ToArray();
        }
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (gzip) request.Content.Headers.ContentEncoding.Add("gzip");
        return request;
    }

    /// <summary>Starts an import and polls it until it ends; returns its final record.</summary>
    private static async Task<JsonObject> ImportAsync(GatewayClient gateway, HttpRequestMessage request)
    {
        using var response = await gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"import answered {(int)response.StatusCode}: {body}");
        var location = response.Headers.Location!.ToString();
        Assert.StartsWith("/v1/imports/imp_", location);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var job = await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Get, location, GatewayClient.WriteKey), HttpStatusCode.OK);
            var status = job["status"]!.GetValue<string>();
            if (status is "completed" or "failed") return job;
            Assert.True(DateTime.UtcNow < deadline, $"the import did not end in 90 s: {job.ToJsonString()}");
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task ACsvOfCrmRecordsAndHistoricalEventsIsImportedWithBadRowsRejectedAloneAndCountsOnceWhenImportedAgain()
    {
        var (ada, bob) = (Events.NewUser("import-ada"), Events.NewUser("import-bob"));
        var csv = $"""
            type,userId,event,timestamp,email,plan,properties.revenue,traits.zip:string
            identify,{ada},,,ada@example.com,pro,,01234
            track,{ada},Order Completed,2026-11-01T10:00:00Z,,,49.5,
            track,{ada},Order Completed,2026-11-02T10:00:00Z,,,10,
            identify,{bob},,,bob@example.com,free,,
            track,,Order Completed,2026-11-01T10:00:00Z,,,5,
            track,{bob},Order Completed,yesterday,,,5,
            "track,{bob}"x,Order Completed,,,,,

            """.Replace("\r", "");
        using var gateway = new GatewayClient(platform.App);

        var first = await ImportAsync(gateway, ImportRequest(Encoding.UTF8.GetBytes(csv), "text/csv"));
        Assert.Equal("completed", first["status"]!.GetValue<string>());
        Assert.Equal("csv", first["format"]!.GetValue<string>());
        Assert.Equal(7, first["rowsRead"]!.GetValue<long>());
        Assert.Equal(4, first["rowsAccepted"]!.GetValue<long>());
        Assert.Equal(3, first["rowsRejected"]!.GetValue<long>());

        var profile = await gateway.WaitForProfileAsync(ada, p => p.Count("Order Completed") == 2 && p["traits"]?["plan"] is not null);
        Assert.Equal("ada@example.com", profile["traits"]!["email"]!.GetValue<string>());
        Assert.Equal("01234", profile["traits"]!["zip"]!.GetValue<string>());
        await gateway.WaitForProfileAsync(bob, p => p["traits"]?["plan"]?.GetValue<string>() == "free");

        // Each bad row is named by its line and what is wrong with it.
        using var rejections = await gateway.SendAsync(GatewayClient.Request(HttpMethod.Get, $"/v1/imports/{first["id"]}/rejections", GatewayClient.WriteKey));
        Assert.Equal(HttpStatusCode.OK, rejections.StatusCode);
        Assert.Equal("text/csv", rejections.Content.Headers.ContentType!.MediaType);
        var lines = (await rejections.Content.ReadAsStringAsync()).Trim().Split('\n');
        Assert.Equal("line,field,reason", lines[0]);
        Assert.StartsWith("6,userId,", lines[1]);
        Assert.StartsWith("7,timestamp,", lines[2]);
        Assert.StartsWith("8,row,is not valid CSV", lines[3]);

        // The same file again, gzipped this time: every row is a duplicate, nothing counts twice.
        var again = await ImportAsync(gateway, ImportRequest(Encoding.UTF8.GetBytes(csv), "text/csv", gzip: true));
        Assert.Equal("completed", again["status"]!.GetValue<string>());
        Assert.Equal(0, again["rowsAccepted"]!.GetValue<long>());
        Assert.Equal(4, again["rowsDuplicate"]!.GetValue<long>());
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(2, (await gateway.GetProfileAsync(ada))!.Count("Order Completed"));
    }

    [Fact]
    public async Task NdjsonRowsTakeTheImportsDefaultTypeAndTheAdminKeySeesTheImport()
    {
        var user = Events.NewUser("import-ndjson");
        var ndjson = string.Join("\n",
            $$"""{"userId":"{{user}}","event":"Viewed","timestamp":"2026-10-01T08:00:00Z"}""",
            "",
            $$"""{"userId":"{{user}}","event":"Viewed","timestamp":"2026-10-02T08:00:00Z","properties":{"n":2} }""",
            """{"userId": 12""",
            $$"""{"type":"identify","userId":"{{user}}","traits":{"tier":"gold"} }""");
        using var gateway = new GatewayClient(platform.App);

        var job = await ImportAsync(gateway, ImportRequest(Encoding.UTF8.GetBytes(ndjson), "application/x-ndjson", gzip: true, query: "?type=track"));
        Assert.Equal(3, job["rowsAccepted"]!.GetValue<long>());
        Assert.Equal(1, job["rowsRejected"]!.GetValue<long>());
        await gateway.WaitForProfileAsync(user, p => p.Count("Viewed") == 2 && p["traits"]?["tier"]?.GetValue<string>() == "gold");

        // The admin key sees every import (a write key only its own source's).
        var seen = await gateway.AdminAsync(HttpMethod.Get, $"/v1/imports/{job["id"]}", HttpStatusCode.OK);
        Assert.Equal("default", seen["source"]!.GetValue<string>());
    }

    [Fact]
    public async Task AnImportCutOffByACollectorCrashIsResumedWhenItRestartsAndEveryRowCountsOnce()
    {
        const int users = 40, perUser = 500;
        var ids = Enumerable.Range(0, users).Select(i => Events.NewUser($"import-crash-{i}")).ToArray();
        var csv = new StringBuilder("userId,event,timestamp\n");
        var start = new DateTimeOffset(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
        for (var row = 0; row < users * perUser; row++)
        {
            csv.Append(ids[row % users]).Append(",Imported,").Append(start.AddSeconds(row).ToString("yyyy-MM-ddTHH:mm:ssZ")).Append('\n');
        }
        using var gateway = new GatewayClient(platform.App);
        using var response = await gateway.SendAsync(ImportRequest(Encoding.UTF8.GetBytes(csv.ToString()), "text/csv", gzip: true));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var location = response.Headers.Location!.ToString();

        // Killed (SIGKILL) while it imports: the upload stays in the spool folder, the record says "running".
        await WaitForAsync(gateway, location, job => job["rowsRead"]!.GetValue<long>() >= 1_000);
        var before = ResourceProcesses.Of(platform.App, "collector");
        ResourceProcesses.Kill(before, "collector");
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
        {
            await platform.App.ResourceNotifications.WaitForResourceAsync("collector",
                e => e.Snapshot.State?.Text == Aspire.Hosting.ApplicationModel.KnownResourceStates.Running
                    && ResourceProcesses.PidOf(e.Snapshot) is { } pid && pid != before.Reported, timeout.Token);
            await platform.App.ResourceNotifications.WaitForResourceHealthyAsync("collector", timeout.Token);
        }

        var done = await WaitForAsync(gateway, location, job => job["status"]!.GetValue<string>() is "completed" or "failed");
        Assert.Equal("completed", done["status"]!.GetValue<string>());
        Assert.Equal(users * perUser, done["rowsRead"]!.GetValue<long>());
        Assert.Equal(users * perUser, done["rowsAccepted"]!.GetValue<long>() + done["rowsDuplicate"]!.GetValue<long>());
        Assert.True(done["rowsDuplicate"]!.GetValue<long>() > 0, "the resumed import should find the rows accepted before the crash");
        foreach (var id in ids)
        {
            await gateway.WaitForProfileAsync(id, p => p.Count("Imported") >= perUser, TimeSpan.FromSeconds(120));
        }
        await Task.Delay(TimeSpan.FromSeconds(2));
        foreach (var id in ids) Assert.Equal(perUser, (await gateway.GetProfileAsync(id))!.Count("Imported"));
    }

    private static async Task<JsonObject> WaitForAsync(GatewayClient gateway, string location, Func<JsonObject, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (true)
        {
            using var response = await gateway.SendAsync(GatewayClient.Request(HttpMethod.Get, location, GatewayClient.AdminKey));
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var job = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
                if (done(job)) return job;
                Assert.True(DateTime.UtcNow < deadline, $"the import never reached the expected state: {job.ToJsonString()}");
            }
            Assert.True(DateTime.UtcNow < deadline, $"the import could not be read: {(int)response.StatusCode}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task BadImportsAreRefusedWithTheFieldAndNothingStarts()
    {
        using var gateway = new GatewayClient(platform.App);
        var json = await gateway.SendExpectingAsync(ImportRequest("{}"u8.ToArray(), "application/json"), HttpStatusCode.UnsupportedMediaType);
        Assert.Equal("Content-Type", json["errors"]![0]!["field"]!.GetValue<string>());

        var header = await gateway.SendExpectingAsync(ImportRequest("userId,plan:money\nu1,pro\n"u8.ToArray(), "text/csv"), HttpStatusCode.BadRequest);
        Assert.Equal("header column 2", header["errors"]![0]!["field"]!.GetValue<string>());

        var type = await gateway.SendExpectingAsync(ImportRequest("userId\nu1\n"u8.ToArray(), "text/csv", query: "?type=purchase"), HttpStatusCode.BadRequest);
        Assert.Equal("type", type["errors"]![0]!["field"]!.GetValue<string>());

        var zip = ImportRequest("userId\nu1\n"u8.ToArray(), "text/csv");
        zip.Content!.Headers.ContentEncoding.Add("gzip");
        var notGzip = await gateway.SendExpectingAsync(zip, HttpStatusCode.BadRequest);
        Assert.Equal("Content-Encoding", notGzip["errors"]![0]!["field"]!.GetValue<string>());

        await gateway.SendExpectingAsync(GatewayClient.Request(HttpMethod.Get, "/v1/imports/imp_0123456789abcdef0123456789abcdef", GatewayClient.AdminKey), HttpStatusCode.NotFound);
        using var anonymous = new HttpRequestMessage(HttpMethod.Get, "/v1/imports/imp_0123456789abcdef0123456789abcdef");
        using var refused = await gateway.SendAsync(anonymous);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }
}
