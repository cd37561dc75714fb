using Personalization.Contracts;
using Personalization.ProfileQuery.Apis;
using Personalization.ProfileQuery.Extensions;
using Personalization.ProfileQuery.Live;
using Personalization.Streaming;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseProblemResponses();
app.UseWebSockets();
app.UseCloudEvents(EventSubscriptions.CloudEvents);
app.MapSubscribeHandler();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapProfileApiV1();
app.MapStreamApiV1();
app.MapDecisionApiV1();
app.MapEventSubscription<ProfileUpdated, ProfileChangeHandler>(EventTopics.ProfilesUpdated);
app.MapEventSubscription<SegmentsChanged, ProfileChangeHandler>(EventTopics.SegmentsChanged);
app.Run();
