using Personalization.Aggregation.Apis;
using Personalization.Aggregation.Extensions;
using Personalization.Aggregation.IntegrationEvents;
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
app.MapSegmentApiV1();
app.MapEventSubscription<EnrichedEvent, ProfileAggregator>(EventTopics.Enriched);
app.MapPersonalizationWithdrawal(userId => [StateKeys.Profile(userId)]);
app.Run();
