using Personalization.Sidecar.ConformanceTests.Infrastructure;

namespace Personalization.Sidecar.ConformanceTests;

/// <summary>Bad configuration stops the sidecar at start with a message that names the problem.</summary>
[Collection(ConformanceCollection.Name)]
public sealed class StartupErrorTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task MalformedComponentYamlStopsTheSidecarWithAMessageNamingTheFile()
    {
        using var resources = new ResourcesFolder().Write("broken-component.yaml", """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: [unclosed
            spec: {type: state.redis
            """);

        await using var sidecar = SidecarProcess.Launch(new SidecarOptions("conf-broken-yaml", resources.Path));

        Assert.NotEqual(0, await sidecar.WaitForExitAsync(ExitTimeout));
        Assert.Contains("broken-component.yaml", sidecar.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnknownComponentTypeStopsTheSidecarWithAMessageNamingTheType()
    {
        using var resources = new ResourcesFolder().Write("mystery.yaml", """
            apiVersion: dapr.io/v1alpha1
            kind: Component
            metadata:
              name: mystery
            spec:
              type: state.no-such-kind
              version: v1
              metadata: []
            """);

        await using var sidecar = SidecarProcess.Launch(new SidecarOptions("conf-unknown-type", resources.Path));

        Assert.NotEqual(0, await sidecar.WaitForExitAsync(ExitTimeout));
        Assert.Contains("state.no-such-kind", sidecar.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnknownFlagStopsTheSidecarWithAMessageNamingTheFlag()
    {
        using var resources = new ResourcesFolder();

        await using var sidecar = SidecarProcess.Launch(new SidecarOptions("conf-unknown-flag", resources.Path) { ExtraArgs = ["--no-such-flag", "1"] });

        Assert.NotEqual(0, await sidecar.WaitForExitAsync(ExitTimeout));
        Assert.Contains("no-such-flag", sidecar.Output, StringComparison.Ordinal);
    }
}
