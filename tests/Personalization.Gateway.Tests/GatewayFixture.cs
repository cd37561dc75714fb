using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Personalization.Gateway.Tests;

/// <summary>The gateway with its real configuration, its destinations resolved by service discovery to loopback stubs.</summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    public const string WriteKey = "test-write-key";
    public const string ReadKey = "test-read-key";
    public const string AdminKey = "test-admin-key";
    public const string Source = "website";
    public const string UserTokenKey = "test-user-token-signing-key-of-at-least-32-bytes";

    private readonly List<StubService> _stubs = [];

    public WebApplicationFactory<Program> Factory { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        foreach (var name in new[] { "collector", "consent", "profile-query" })
        {
            _stubs.Add(await StubService.StartAsync(name));
        }
        Factory = new WebApplicationFactory<Program>().WithWebHostBuilder(Configure);
    }

    /// <summary>Keys, and service discovery entries as Aspire's WithReference writes them.</summary>
    public void Configure(IWebHostBuilder web)
    {
        web.UseSetting("ApiKeys:Write:0:Key", WriteKey);
        web.UseSetting("ApiKeys:Write:0:Source", Source);
        web.UseSetting("ApiKeys:Read:0", ReadKey);
        web.UseSetting("ApiKeys:Admin:0", AdminKey);
        web.UseSetting("UserTokens:SigningKey", UserTokenKey);
        foreach (var stub in _stubs)
        {
            web.UseSetting($"services:{stub.Name}:http:0", stub.Url);
        }
    }

    public async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        foreach (var stub in _stubs)
        {
            await stub.DisposeAsync();
        }
    }
}
