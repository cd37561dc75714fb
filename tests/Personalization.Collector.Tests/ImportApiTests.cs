using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Personalization.Collector.Tests;

/// <summary>
/// What <c>POST /v1/imports</c> refuses before an import starts: each answer names the field, and nothing is left in the
/// spool folder. (Imports that run are tested on the whole system: ImportTests.)
/// </summary>
public sealed class ImportApiTests : IDisposable
{
    private readonly string _spool = Directory.CreateTempSubdirectory("imports-").FullName;
    private readonly WebApplicationFactory<Program> _factory;

    public ImportApiTests()
    {
        _factory = new FakeSink().Collector(("Collector:Imports:SpoolDirectory", _spool), ("Collector:Imports:MaxBytes", "2048"));
    }

    public void Dispose()
    {
        _factory.Dispose();
        Directory.Delete(_spool, recursive: true);
    }

    private async Task<(HttpStatusCode Status, JsonElement Problem)> PostAsync(byte[] body, string contentType, string? encoding = null, string query = "")
    {
        using var client = _factory.CreateClient();
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (encoding is not null) content.Headers.ContentEncoding.Add(encoding);
        using var response = await client.PostAsync("/v1/imports" + query, content);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static string Field(JsonElement problem) => problem.GetProperty("errors")[0].GetProperty("field").GetString()!;

    [Theory]
    [InlineData("application/json")]
    [InlineData("text/plain")]
    [InlineData("application/octet-stream")]
    public async Task ABodyThatIsNotCsvOrNdjsonIs415(string contentType)
    {
        var (status, problem) = await PostAsync("{}"u8.ToArray(), contentType);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
        Assert.Equal("Content-Type", Field(problem));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_spool));
    }

    [Fact]
    public async Task AnInvalidHeaderAnUnknownTypeABrokenGzipAndAnEmptyBodyAre400()
    {
        Assert.Equal((HttpStatusCode.BadRequest, "header column 2"), Summary(await PostAsync("userId,plan:money\nu1,pro\n"u8.ToArray(), "text/csv")));
        Assert.Equal((HttpStatusCode.BadRequest, "type"), Summary(await PostAsync("userId\nu1\n"u8.ToArray(), "text/csv", query: "?type=purchase")));
        Assert.Equal((HttpStatusCode.BadRequest, "Content-Encoding"), Summary(await PostAsync("userId\nu1\n"u8.ToArray(), "text/csv", encoding: "gzip")));
        Assert.Equal((HttpStatusCode.BadRequest, "body"), Summary(await PostAsync([], "application/x-ndjson")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_spool));
    }

    [Fact]
    public async Task AnUploadOverTheLimitIs413NamingTheLimitAndIsNotKept()
    {
        var (status, problem) = await PostAsync(new byte[4096], "application/x-ndjson");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("body", Field(problem));
        Assert.Contains("2048", problem.GetProperty("detail").GetString());
        Assert.Empty(Directory.EnumerateFileSystemEntries(_spool));
    }

    [Fact]
    public async Task AnUnknownImportIs404()
    {
        using var client = _factory.CreateClient();
        using var response = await client.GetAsync("/v1/imports/not-an-import");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    private static (HttpStatusCode, string) Summary((HttpStatusCode Status, JsonElement Problem) answer) => (answer.Status, Field(answer.Problem));
}
