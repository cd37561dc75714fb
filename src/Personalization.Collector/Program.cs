var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRedisClient("redis");
builder.AddRabbitMQClient("rabbitmq");
builder.Services.AddOpenApi();

var app = builder.Build();
app.MapOpenApi();
app.MapDefaultEndpoints();
app.MapGet("/", () => TypedResults.Ok(new { service = "collector" })).ExcludeFromDescription();
app.Run();
