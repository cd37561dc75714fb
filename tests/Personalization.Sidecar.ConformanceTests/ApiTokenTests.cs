using System.Net;
using Dapr.Client;
using Grpc.Core;
using Personalization.Sidecar.ConformanceTests.Infrastructure;

namespace Personalization.Sidecar.ConformanceTests;

public sealed class TokenSidecarFixture : SidecarFixture
{
    public string Token { get; } = "conformance-" + Guid.NewGuid().ToString("N");

    public SidecarProcess Sidecar { get; private set; } = null!;

    protected override async Task StartAsync()
    {
        Resources.WithRedisStateStore(Infra);
        Sidecar = Own(await SidecarProcess.StartAsync(new SidecarOptions($"conf-token-{RunId}", Resources.Path) { ApiToken = Token }));
    }
}

/// <summary>With DAPR_API_TOKEN set, every API call must carry the dapr-api-token header.</summary>
[Collection(ConformanceCollection.Name)]
public sealed class ApiTokenTests(InfrastructureFixture infra, TokenSidecarFixture fixture)
    : IClassFixture<TokenSidecarFixture>, IAsyncLifetime
{
    public Task InitializeAsync() => fixture.EnsureStartedAsync(infra);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task AnHttpCallWithoutTheTokenIsRejectedAndWithItSucceeds()
    {
        var path = $"/v1.0/state/{ResourcesFolder.RedisStore}/token-{Guid.NewGuid():N}";

        using (var anonymous = await fixture.Sidecar.Http.GetAsync(path))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, path))
        {
            wrong.Headers.Add("dapr-api-token", "not-the-token");
            using var response = await fixture.Sidecar.Http.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using var authorized = new HttpRequestMessage(HttpMethod.Get, path);
        authorized.Headers.Add("dapr-api-token", fixture.Token);
        using var ok = await fixture.Sidecar.Http.SendAsync(authorized);
        Assert.Equal(HttpStatusCode.NoContent, ok.StatusCode);
    }

    [Fact]
    public async Task AGrpcCallWithoutTheTokenIsUnauthenticatedAndWithItSucceeds()
    {
        var key = $"token-{Guid.NewGuid():N}";
        using var anonymous = new DaprClientBuilder()
            .UseGrpcEndpoint($"http://127.0.0.1:{fixture.Sidecar.GrpcPort}")
            .UseHttpEndpoint($"http://127.0.0.1:{fixture.Sidecar.HttpPort}")
            .Build();

        Assert.Equal(StatusCode.Unauthenticated,
            await DaprErrors.GrpcStatusOfAsync(() => anonymous.SaveStateAsync(ResourcesFolder.RedisStore, key, "value")));

        var withToken = fixture.Sidecar.CreateClient(fixture.Token);
        await withToken.SaveStateAsync(ResourcesFolder.RedisStore, key, "value");
        Assert.Equal("value", await withToken.GetStateAsync<string>(ResourcesFolder.RedisStore, key));
    }
}
