using Personalization.Enrichment.Extensions;
using Personalization.Enrichment.IntegrationEvents;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseCloudEvents(Extensions.CloudEvents);
app.MapSubscribeHandler();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapEnrichmentSubscriptions();
app.Run();
