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
app.MapOpenApi();
app.MapDefaultEndpoints();
app.MapTrackingApiV1();
app.MapGet("/", () => TypedResults.Ok(new { service = "collector" })).ExcludeFromDescription();
app.Run();

public partial class Program;
