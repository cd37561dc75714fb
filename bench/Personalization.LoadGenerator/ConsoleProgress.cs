using System.Diagnostics;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Personalization.LoadGenerator;

/// <summary>What the operator sees while a measurement runs: a live table on a terminal, a line every 5 s otherwise.</summary>
public static class ConsoleProgress
{
    private static readonly bool Interactive = AnsiConsole.Profile.Capabilities.Interactive;

    public static async Task ShowAsync(Task work, Func<IRenderable> render)
    {
        if (Interactive)
        {
            await AnsiConsole.Live(render()).AutoClear(false).StartAsync(async live =>
            {
                while (!work.IsCompleted)
                {
                    await Task.WhenAny(work, Task.Delay(500, CancellationToken.None));
                    live.UpdateTarget(render());
                }
            });
        }
        else
        {
            while (!work.IsCompleted)
            {
                await Task.WhenAny(work, Task.Delay(5000, CancellationToken.None));
                if (!work.IsCompleted)
                {
                    AnsiConsole.Write(render());
                    AnsiConsole.WriteLine();
                }
            }
        }
        await work;
    }

    public static Table Phase(string name, long phaseStart, IngestStats s, ReadStats r, FreshnessProbe? probe)
    {
        var elapsed = Stopwatch.GetElapsedTime(phaseStart).TotalSeconds;
        var post = s.PostLatency.Summarize();
        var reads = r.Found.Summarize();
        var fresh = probe?.Freshness.Summarize() ?? LatencySummary.Empty;
        var table = new Table().Title(Markup.Escape($"{name} — {elapsed:0} s")).AddColumns("", "value");
        table.AddRow("events sent / accepted", $"{s.EventsSent:N0} / {s.EventsAccepted:N0}");
        table.AddRow("accepted events/s", ReportWriter.N(elapsed > 0 ? s.EventsAccepted / elapsed : 0));
        table.AddRow("POST p50 / p99", Markup.Escape($"{ReportWriter.Ms(post.P50)} / {ReportWriter.Ms(post.P99)}"));
        table.AddRow("2xx / 4xx / 429 / 503 / 5xx / conn", $"{s.Status2xx:N0} / {s.Status4xx:N0} / {s.Status429:N0} / {s.Status503:N0} / {s.Status5xxOther:N0} / {s.NetworkErrors:N0}");
        table.AddRow("freshness p50 / p99 (n)", Markup.Escape($"{ReportWriter.Ms(fresh.P50)} / {ReportWriter.Ms(fresh.P99)} ({fresh.Count:N0}, {probe?.Open ?? 0} open)"));
        table.AddRow("reads p50 / p99 (200 / 404)", Markup.Escape($"{ReportWriter.Ms(reads.P50)} / {ReportWriter.Ms(reads.P99)} ({r.Status200:N0} / {r.Status404:N0})"));
        table.AddRow("load average", Markup.Escape(Machine.LoadAverage()));
        return table;
    }

    public static void PrintPhase(PhaseResult p)
    {
        var table = new Table().Title(Markup.Escape(p.Name)).AddColumns("", "value");
        table.AddRow("accepted events/s", ReportWriter.N(p.Ingest.AcceptedPerSecond));
        table.AddRow("accepted and counted events/s", ReportWriter.N(p.CountedPerSecond) + (p.Loss is { Complete: false } ? " (drain incomplete)" : ""));
        table.AddRow("freshness p50 / p95 / p99", Markup.Escape(p.Freshness is { } f ? $"{ReportWriter.Ms(f.Freshness.P50)} / {ReportWriter.Ms(f.Freshness.P95)} / {ReportWriter.Ms(f.Freshness.P99)}" : "—"));
        table.AddRow("profile read p50 / p99", Markup.Escape(p.Reads is { } r ? $"{ReportWriter.Ms(r.Found.P50)} / {ReportWriter.Ms(r.Found.P99)}" : "—"));
        table.AddRow("loss (missing / extra)", p.Loss is { } l ? $"{l.Missing:N0} / {l.Extra:N0}{(l.Complete ? "" : " (drain incomplete)")}" : "—");
        table.AddRow("4xx / 429 / 503 / 5xx", $"{p.Ingest.Status4xx:N0} / {p.Ingest.Status429:N0} / {p.Ingest.Status503:N0} / {p.Ingest.Status5xxOther:N0}");
        table.AddRow("system CPU per event", p.Cpu?.MicrosecondsPerEvent is { } us ? $"{us:N0} µs" : "—");
        table.AddRow("system memory peak (RSS / PSS)", p.MemoryPeak is { } m ? $"{ReportWriter.MiB(m.RssKib)} / {ReportWriter.MiB(m.PssKib)}" : "—");
        AnsiConsole.Write(table);
    }
}
