using Personalization.Collector.Apis;
using Personalization.Collector.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();
builder.Services.AddOpenApi();

var app = builder.Build();
app.UseProblemResponses();
// Sheds tracking requests over Collector:MaxConcurrentRequests/MaxQueuedRequests with a 503 (TrackingApi.ShedAsync).
app.UseRateLimiter();
// Some Segment SDKs gzip their batches; limits apply to the decompressed JSON.
app.UseRequestDecompression();
// WebSocket ingestion (/v1/stream): pings every 30 s keep an idle stream open through proxies (the gateway's drops one
// quiet for 100 s), and a client that answers none within 60 s is dropped, so a dead peer does not hold a stream.
app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30), KeepAliveTimeout = TimeSpan.FromSeconds(60) });
app.MapOpenApi();
app.MapDefaultEndpoints();
app.MapTrackingApiV1();
app.MapStreamApiV1();
app.MapImportApiV1();
app.MapGet("/", () => TypedResults.Ok(new { service = "collector" })).ExcludeFromDescription();
app.Run();

public partial class Program;
