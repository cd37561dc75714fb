using Personalization.Storefront;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddStorefront();

var app = builder.Build();
app.UseProblemResponses();
app.UseDefaultFiles();
app.UseStaticFiles();
app.MapDefaultEndpoints();
app.MapStorefront();
app.Run();
