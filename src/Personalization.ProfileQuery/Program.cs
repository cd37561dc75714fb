using Personalization.ProfileQuery.Apis;
using Personalization.ProfileQuery.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseProblemResponses();
app.UseCloudEvents();
app.MapSubscribeHandler();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapProfileApiV1();
app.Run();
