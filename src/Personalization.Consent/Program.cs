using Personalization.Consent.Apis;
using Personalization.Consent.Extensions;
using Personalization.Consent.IntegrationEvents;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseCloudEvents(Extensions.CloudEvents);
app.MapSubscribeHandler();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapConsentApiV1();
app.MapConsentSubscriptions();
app.Run();
