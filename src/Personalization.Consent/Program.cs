using Personalization.Consent.Apis;
using Personalization.Consent.Extensions;
using Personalization.Consent.IntegrationEvents;
using Personalization.Contracts;
using Personalization.Streaming;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseProblemResponses();
app.UseCloudEvents(EventSubscriptions.CloudEvents);
app.MapSubscribeHandler();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapConsentApiV1();
app.MapPrivacyApiV1();
app.MapEventSubscription<CollectedEvent, ConsentFilter>(EventTopics.Collected);
app.Run();
