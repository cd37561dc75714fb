var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRedisClient("redis");
builder.AddNpgsqlDataSource("personalization");
builder.Services.AddOpenApi();

var app = builder.Build();
app.MapOpenApi();
app.MapDefaultEndpoints();
app.MapGet("/", () => TypedResults.Ok(new { service = "consent" })).ExcludeFromDescription();
app.Run();
