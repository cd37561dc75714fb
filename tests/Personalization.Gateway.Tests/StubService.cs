using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Personalization.Gateway.Tests;

/// <summary>A destination on loopback that answers with what it received: its name, the path and the headers the gateway sets.</summary>
public sealed class StubService : IAsyncDisposable
{
    private readonly WebApplication _app;

    private StubService(WebApplication app, string name, string url)
    {
        _app = app;
        Name = name;
        Url = url;
    }

    public string Name { get; }
    public string Url { get; }

    public static async Task<StubService> StartAsync(string name)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.Map("/{**path}", async (HttpContext context) =>
        {
            using var body = new StreamReader(context.Request.Body);
            var echo = new Dictionary<string, string?>
            {
                ["service"] = name,
                ["method"] = context.Request.Method,
                ["path"] = context.Request.Path.Value,
                ["source"] = context.Request.Headers["X-Source"].ToString(),
                ["keyId"] = context.Request.Headers["X-Api-Key-Id"].ToString(),
                ["requestId"] = context.Request.Headers["X-Request-Id"].ToString(),
                ["authorization"] = context.Request.Headers.Authorization.ToString(),
                ["writeKey"] = context.Request.Headers["X-Write-Key"].ToString(),
                ["tokenUser"] = context.Request.Headers["X-Token-User"].ToString(),
                ["query"] = context.Request.QueryString.Value,
                ["body"] = await body.ReadToEndAsync(),
            };
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonSerializer.Serialize(echo));
        });
        await app.StartAsync();
        var url = app.Urls.First();
        return new StubService(app, name, url);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
