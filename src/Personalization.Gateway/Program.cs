var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();

builder.Services.AddOpenApi();

var app = builder.Build();
app.MapOpenApi();
app.MapDefaultEndpoints();
app.MapGet("/", () => TypedResults.Ok(new { service = "gateway" })).ExcludeFromDescription();
app.Run();
