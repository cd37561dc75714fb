using Personalization.Enrichment.Extensions;
using Personalization.Contracts;
using Personalization.Enrichment.IntegrationEvents;
using Personalization.Enrichment.Model;
using Personalization.Streaming;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
// Opens the IP geolocation database now, so a file that cannot be read stops the start rather than the first delivery.
app.Services.GetRequiredService<GeoResolver>();
app.UseCloudEvents(EventSubscriptions.CloudEvents);
app.MapSubscribeHandler();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapEventSubscription<CollectedEvent, EventEnricher>(EventTopics.Consented);
app.MapPersonalizationWithdrawal(userId => [StateKeys.Session(userId)]);
app.Run();
