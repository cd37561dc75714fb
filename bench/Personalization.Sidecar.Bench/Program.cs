using System.Globalization;
using Personalization.Sidecar.Bench;

// Sidecar benchmark: publish → deliver and state get/save through the local sidecar versus RabbitMQ.Client and
// StackExchange.Redis directly, in the same run, on loopback. Bounded in count and time; writes a markdown report.
// Usage: dotnet run --project bench/Personalization.Sidecar.Bench -c Release [-- --scale 0.5] [--out <file>]
var scale = 1.0;
string? output = null;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--scale" when i + 1 < args.Length:
            scale = double.Parse(args[++i], CultureInfo.InvariantCulture);
            break;
        case "--out" when i + 1 < args.Length:
            output = args[++i];
            break;
        default:
            Console.Error.WriteLine($"error: unknown argument '{args[i]}' (known: --scale <factor>, --out <file>)");
            return 2;
    }
}

using var overall = new CancellationTokenSource(TimeSpan.FromMinutes(10));
var report = new Report([.. MachineInfo.Describe(), ("sidecar source", MachineInfo.SidecarCommit(SidecarProcess.FindRepositoryRoot()))]);
await using (var infra = await BenchInfrastructure.StartAsync(overall.Token))
{
    await using var bench = await SidecarBench.StartAsync(infra, overall.Token);
    await bench.RunAsync(report, scale, overall.Token);
}

var repoRoot = SidecarProcess.FindRepositoryRoot();
output ??= Path.Combine(repoRoot, "bench", "reports", $"sidecar-{DateTime.UtcNow:yyyy-MM-dd}.md");
await File.WriteAllTextAsync(output, report.ToMarkdown());
Console.WriteLine(report.ToMarkdown());
Console.WriteLine($"report written to {output}");
return 0;
