using System.Net;
using System.Net.Http.Json;

namespace Personalization.Storefront;

/// <summary>
/// Sets up what the demo shows, through the admin API like any operator would, once the gateway answers: two segments
/// (visitors browsing a lot within the hour, buyers) and the <c>home-banner</c> placement choosing a win-back, a thanks
/// or a still-looking banner over them. What exists already is left alone, so an operator's edits survive a restart.
/// </summary>
public sealed partial class DemoSetup(IHttpClientFactory clients, ILogger<DemoSetup> logger) : BackgroundService
{
    public const string Browsers = "demo-browsers";
    public const string Buyers = "demo-buyers";

    private static readonly (string Path, object Body)[] Resources =
    [
        ($"/v1/segments/{Browsers}", new
        {
            name = "Browsing a lot",
            description = "Viewed three products or more within the hour",
            rule = new { field = "events", @event = "Product Viewed", window = "1h", op = ">=", value = 3 },
        }),
        ($"/v1/segments/{Buyers}", new
        {
            name = "Buyers",
            description = "Completed an order",
            rule = new { field = "orders", op = ">=", value = 1 },
        }),
        ($"/v1/placements/{Storefront.Placement}", new
        {
            name = "Home banner",
            variants = new object[]
            {
                new { id = "win-back", when = new { flag = "churnRisk" }, content = new { title = "We missed you", text = "Here is 15 % off your next order." } },
                new { id = "thanks", when = new { segment = Buyers }, content = new { title = "Thanks for your order", text = "Shipping is on us next time." } },
                new { id = "still-looking", when = new { segment = Browsers }, content = new { title = "Still deciding?", text = "10 % off anything you viewed today." } },
            },
            fallback = new { id = "welcome", content = new { title = "Welcome to the demo shop", text = "Browse a few products and watch this banner." } },
        }),
    ];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var http = clients.CreateClient("gateway");
        foreach (var (path, body) in Resources)
        {
            for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
            {
                try
                {
                    using var existing = await http.GetAsync(path, stoppingToken);
                    if (existing.StatusCode == HttpStatusCode.NotFound)
                    {
                        using var created = await http.PutAsJsonAsync(path, body, stoppingToken);
                        created.EnsureSuccessStatusCode();
                        LogCreated(logger, path);
                    }
                    else
                    {
                        existing.EnsureSuccessStatusCode();
                    }
                    break;
                }
                catch (HttpRequestException e) when (attempt < 150)
                {
                    // The gateway or the service behind it is still starting.
                    LogWaiting(logger, path, e.Message);
                    await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo set up: {Path} created")]
    private static partial void LogCreated(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Demo setup waits for the gateway ({Path}): {Reason}")]
    private static partial void LogWaiting(ILogger logger, string path, string reason);
}
