using System.Net;
using System.Text.Json.Nodes;
using Dapr;
using Dapr.Client;
using Grpc.Core;
using Personalization.Sidecar.ConformanceTests.Infrastructure;

namespace Personalization.Sidecar.ConformanceTests;

public sealed class SurfaceSidecarFixture : SidecarFixture
{
    public const string SecretStore = "secrets";
    public const string Prefix = "CONFORMANCE_SECRET_";

    public SidecarProcess Sidecar { get; private set; } = null!;
    public int MetricsPort { get; } = FreePort.Next();

    protected override async Task StartAsync()
    {
        // Read once, at the sidecar's start.
        using var folder = new ResourcesFolder().Write("secrets.yaml", $"""
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: {SecretStore}
            spec:
              type: secretstores.local.env
              version: v1
              metadata:
              - name: prefix
                value: {Prefix}
            """);
        Sidecar = Own(await SidecarProcess.StartAsync(new SidecarOptions($"conf-surface-{RunId}", folder.Path)
        {
            MetricsPort = MetricsPort,
            Environment = new Dictionary<string, string> { [Prefix + "db-password"] = "s3cret", [Prefix + "api-key"] = "k-123" },
        }));
    }
}

/// <summary>
/// The rest of daprd's surface a client may use: secrets (HTTP and gRPC), Prometheus metrics on
/// <c>--metrics-port</c> and gRPC server reflection (both versions; Dapr.Client's feature probe reads v1).
/// </summary>
[Collection(ConformanceCollection.Name)]
public sealed class SidecarSurfaceTests(InfrastructureFixture infra, SurfaceSidecarFixture fixture)
    : IClassFixture<SurfaceSidecarFixture>, IAsyncLifetime
{
    public Task InitializeAsync() => fixture.EnsureStartedAsync(infra);

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task ASecretIsReadFromTheEnvSecretStoreOverGrpcAndHttp()
    {
        var dapr = fixture.Sidecar.CreateClient();

        var secret = await dapr.GetSecretAsync(SurfaceSidecarFixture.SecretStore, "db-password");
        Assert.Equal("s3cret", secret["db-password"]);

        using var response = await fixture.Sidecar.Http.GetAsync($"/v1.0/secrets/{SurfaceSidecarFixture.SecretStore}/api-key");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("k-123", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["api-key"]);
    }

    [Fact]
    public async Task TheBulkSecretsAreTheVariablesWithTheStoresPrefixOnly()
    {
        var dapr = fixture.Sidecar.CreateClient();

        var all = await dapr.GetBulkSecretAsync(SurfaceSidecarFixture.SecretStore);
        Assert.Equal("s3cret", all["db-password"]["db-password"]);
        Assert.Equal("k-123", all["api-key"]["api-key"]);
        Assert.DoesNotContain("PATH", all.Keys);

        using var response = await fixture.Sidecar.Http.GetAsync($"/v1.0/secrets/{SurfaceSidecarFixture.SecretStore}/bulk");
        Assert.Equal("s3cret", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["db-password"]!["db-password"]);
    }

    [Fact]
    public async Task AnUnknownSecretStoreIsRefusedAsDaprdRefusesIt()
    {
        using var response = await fixture.Sidecar.Http.GetAsync("/v1.0/secrets/no-such-store/x");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("ERR_SECRET_STORE_NOT_FOUND", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errorCode"]);

        var error = await Assert.ThrowsAsync<DaprException>(() => fixture.Sidecar.CreateClient().GetSecretAsync("no-such-store", "x"));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, Assert.IsType<Grpc.Core.RpcException>(error.InnerException).StatusCode);
    }

    [Fact]
    public async Task PrometheusMetricsAreServedOnTheMetricsPort()
    {
        using (await fixture.Sidecar.Http.GetAsync("/v1.0/metadata")) { }
        using var http = new HttpClient();

        // The exporter caches a scrape briefly; the request just made shows up in a later one.
        string text = "";
        for (var attempt = 0; attempt < 20 && !text.Contains("http_server_request_duration_seconds", StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(250);
            using var response = await http.GetAsync($"http://127.0.0.1:{fixture.MetricsPort}/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            text = await response.Content.ReadAsStringAsync();
        }
        Assert.Contains("# TYPE ", text);
        Assert.Contains("http_server_request_duration_seconds", text);
    }

    [Theory]
    [InlineData("grpc.reflection.v1.ServerReflection")]
    [InlineData("grpc.reflection.v1alpha.ServerReflection")]
    public async Task ReflectionListsTheDaprServiceAndItsMethods(string reflectionService)
    {
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{fixture.Sidecar.GrpcPort}");
        var (services, methods) = await ReflectAsync(channel, reflectionService);

        Assert.Contains("dapr.proto.runtime.v1.Dapr", services);
        Assert.Contains("BulkPublishEvent", methods);
        Assert.Contains("GetBulkState", methods);
    }

    [Fact]
    public async Task DaprClientsFeatureProbeLetsABulkPublishThrough()
    {
        var dapr = fixture.Sidecar.CreateClient();

        // This sidecar has no pubsub: the sidecar's own refusal proves the client called it rather than deciding,
        // from reflection, that the runtime lacks the method (DaprFeatureNotAvailableException).
        var error = await Assert.ThrowsAnyAsync<Exception>(() => dapr.BulkPublishEventAsync("no-such-pubsub", "t", new[] { "a" }));
        Assert.IsNotType<Dapr.Common.DaprFeatureNotAvailableException>(error);
        Assert.IsType<Grpc.Core.RpcException>(error.InnerException);
    }

    /// <summary>
    /// Lists the services and asks for the file of the Dapr service. v1 and v1alpha have the same messages on the wire
    /// (only the service name differs), so v1's types serve both.
    /// </summary>
    private static async Task<(List<string> Services, List<string> Methods)> ReflectAsync(Grpc.Net.Client.GrpcChannel channel, string reflectionService)
    {
        var method = new Method<Grpc.Reflection.V1.ServerReflectionRequest, Grpc.Reflection.V1.ServerReflectionResponse>(
            MethodType.DuplexStreaming, reflectionService, "ServerReflectionInfo",
            Marshallers.Create(r => Google.Protobuf.MessageExtensions.ToByteArray(r), Grpc.Reflection.V1.ServerReflectionRequest.Parser.ParseFrom),
            Marshallers.Create(r => Google.Protobuf.MessageExtensions.ToByteArray(r), Grpc.Reflection.V1.ServerReflectionResponse.Parser.ParseFrom));
        using var call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(method, null, new CallOptions());
        await call.RequestStream.WriteAsync(new Grpc.Reflection.V1.ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.WriteAsync(new Grpc.Reflection.V1.ServerReflectionRequest { FileContainingSymbol = "dapr.proto.runtime.v1.Dapr" });
        await call.RequestStream.CompleteAsync();
        List<string> services = [], methods = [];
        await foreach (var answer in call.ResponseStream.ReadAllAsync())
        {
            services.AddRange(answer.ListServicesResponse?.Service.Select(s => s.Name) ?? []);
            methods.AddRange(MethodsOf(answer.FileDescriptorResponse?.FileDescriptorProto));
        }
        return (services, methods);
    }

    /// <summary>The method names of the Dapr service in serialized FileDescriptorProtos.</summary>
    private static IEnumerable<string> MethodsOf(IEnumerable<Google.Protobuf.ByteString>? files) =>
        (files ?? []).Select(Google.Protobuf.Reflection.FileDescriptorProto.Parser.ParseFrom)
            .Where(file => file.Package == "dapr.proto.runtime.v1")
            .SelectMany(file => file.Service.Where(s => s.Name == "Dapr").SelectMany(s => s.Method.Select(m => m.Name)));
}
