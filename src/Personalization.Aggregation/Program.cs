using Personalization.Aggregation.Extensions;
using Personalization.Aggregation.IntegrationEvents;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseCloudEvents(Extensions.CloudEvents);
app.MapSubscribeHandler();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapAggregationSubscriptions();
app.Run();
