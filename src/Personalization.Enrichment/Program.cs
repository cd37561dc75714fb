using Personalization.Enrichment.Extensions;
using Personalization.Contracts;
using Personalization.Enrichment.IntegrationEvents;
using Personalization.Streaming;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseCloudEvents(EventSubscriptions.CloudEvents);
app.MapSubscribeHandler();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapEventSubscription<CollectedEvent, EventEnricher>(EventTopics.Consented);
app.MapPersonalizationWithdrawal(userId => [StateKeys.Session(userId)]);
app.Run();
