using Personalization.Sidecar.Options;

namespace Personalization.Sidecar.Tests;

public sealed class FlagParserTests
{
    [Fact]
    public void DaprdFlagsAreReadInBothSpellings()
    {
        var options = FlagParser.Parse([
            "--app-id", "collector", "--app-port=5100", "--app-channel-address", "localhost", "--dapr-http-port", "3601",
            "--dapr-grpc-port", "50002", "--resources-path", "/a", "--resources-path=/b", "--config", "/c/config.yaml",
            "--log-level", "debug", "--enable-app-health-check", "--app-health-check-path", "health", "--app-health-probe-interval", "2",
            "--enable-metrics", "false", "--metrics-port", "9091", "--app-protocol", "http",
        ]);

        Assert.Equal("collector", options.AppId);
        Assert.Equal(5100, options.AppPort);
        Assert.Equal(new Uri("http://localhost:5100"), options.AppBaseAddress);
        Assert.Equal(3601, options.DaprHttpPort);
        Assert.Equal(50002, options.DaprGrpcPort);
        Assert.Equal(["/a", "/b"], options.ResourcesPaths);
        Assert.Equal("/c/config.yaml", options.ConfigPath);
        Assert.Equal("debug", options.LogLevel);
        Assert.True(options.EnableAppHealthCheck);
        Assert.Equal("/health", options.AppHealthCheckPath);
        Assert.Equal(TimeSpan.FromSeconds(2), options.AppHealthProbeInterval);
        Assert.False(options.EnableMetrics);
        Assert.Equal(9091, options.MetricsPort);
    }

    [Fact]
    public void DefaultsAreDaprds()
    {
        var options = FlagParser.Parse(["--app-id", "gateway"]);

        Assert.Equal(3500, options.DaprHttpPort);
        Assert.Equal(50001, options.DaprGrpcPort);
        Assert.Equal("/healthz", options.AppHealthCheckPath);
        Assert.Null(options.AppPort);
        Assert.Null(options.AppBaseAddress);
    }

    [Theory]
    [InlineData("--no-such-flag", "1")]
    [InlineData("--no-such-flag=1", null)]
    [InlineData("--no-such-flag", null)]
    public void AnUnknownFlagIsAnErrorNamingIt(string flag, string? value)
    {
        string[] args = value is null ? ["--app-id", "a", flag] : ["--app-id", "a", flag, value];

        var error = Assert.Throws<FlagException>(() => FlagParser.Parse(args));

        Assert.Contains("--no-such-flag", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--app-port", "seventy")]
    [InlineData("--dapr-http-port", "70000")]
    [InlineData("--log-level", "chatty")]
    [InlineData("--app-protocol", "grpc")]
    public void ABadValueIsAnErrorNamingTheFlag(string flag, string value)
    {
        var error = Assert.Throws<FlagException>(() => FlagParser.Parse(["--app-id", "a", flag, value]));

        Assert.Contains(flag, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheAppIdIsRequired() =>
        Assert.Contains("--app-id", Assert.Throws<FlagException>(() => FlagParser.Parse(["--app-port", "1"])).Message, StringComparison.Ordinal);

    [Fact]
    public void AFlagWithoutItsValueIsAnError() =>
        Assert.Contains("needs a value", Assert.Throws<FlagException>(() => FlagParser.Parse(["--app-id"])).Message, StringComparison.Ordinal);
}
