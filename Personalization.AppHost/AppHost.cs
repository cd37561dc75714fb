using Personalization.AppHost;
using Personalization.AppHost.Infrastructure;

try
{
    var builder = DistributedApplication.CreateBuilder(args);

    // 1. Infrastructure: Redis (hot state), PostgreSQL (the record), RabbitMQ (the broker).
    var infra = builder.AddInfrastructure();

    if (builder.Configuration["AppHost:Scope"] != "infrastructure")
    {
        // 2. Services, in the order events flow through them.
        var collector = builder.AddService<Projects.Personalization_Collector>("collector")
            .WithInfrastructure(infra, infra.Redis, infra.RabbitMq);
        var consent = builder.AddService<Projects.Personalization_Consent>("consent")
            .WithInfrastructure(infra, infra.Redis, infra.Database);
        builder.AddService<Projects.Personalization_Enrichment>("enrichment")
            .WithInfrastructure(infra, infra.Redis);
        builder.AddService<Projects.Personalization_Aggregation>("aggregation")
            .WithInfrastructure(infra, infra.Redis, infra.Database);
        var profileQuery = builder.AddService<Projects.Personalization_ProfileQuery>("profile-query")
            .WithInfrastructure(infra, infra.Redis);

        // 3. The gateway: the only public entry.
        builder.AddService<Projects.Personalization_Gateway>("gateway", publicPort: builder.GatewayPort())
            .WithExternalHttpEndpoints()
            .WithReference(collector).WaitFor(collector)
            .WithReference(consent).WaitFor(consent)
            .WithReference(profileQuery).WaitFor(profileQuery);
    }

    builder.Build().Run();
    return 0;
}
catch (InfrastructureUnavailableException unavailable)
{
    // One clear line a user can act on; no stack trace to dig through.
    Console.Error.WriteLine($"error: {unavailable.Message}");
    return 2;
}
