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
// Consent keeps the events that broke their tracking plan (QuarantinedEvents), for listing, replay and erasure.
app.MapEventSubscription<QuarantinedEvent, QuarantineRecorder>(EventTopics.Quarantined);
// Consent keeps every topic's dead letters (DeadLetters); the services that failed them count them.
app.MapDeadLetters(Topics.EventsConsented, count: false);
app.MapDeadLetters(Topics.EventsEnriched, count: false);
app.MapDeadLetters(Topics.ConsentChanged, count: false);
app.MapDeadLetterApiV1();
app.MapQuarantineApiV1();
app.Run();
