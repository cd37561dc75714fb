using Personalization.AppHost;
using Personalization.AppHost.Dapr;
using Personalization.AppHost.Infrastructure;
using Personalization.AppHost.Publishing;
using Personalization.AppHost.Supervision;

try
{
    var builder = DistributedApplication.CreateBuilder(args);
    // A process that crashes is started again, and a start that cannot finish says what it waits for.
    builder.AddProcessSupervisor();

    // 1. Infrastructure: Redis (hot state), PostgreSQL (the record), RabbitMQ (the broker).
    var infra = builder.AddInfrastructure();

    if (builder.Configuration["AppHost:Scope"] != "infrastructure")
    {
        // One token between each app and its sidecar, new every run.
        var daprToken = builder.AddParameter("dapr-api-token", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true);
        // The key of the hashes erased users are remembered by: stable across runs, so development gets a fixed one.
        // Every service that takes events checks the suppression list of erased users, keyed by it.
        var privacyKey = builder.AddParameter("privacy-hash-key", "dev-privacy-hash-key-development-only", secret: true);

        // 2. Services, in the order events flow through them; each a Dapr app with its sidecar.
        var collector = builder.AddService<Projects.Personalization_Collector>("collector")
            .WithAnnotation(new ScalesOutAnnotation())
            .WithInfrastructure(infra, infra.Redis, infra.RabbitMq)
            .WithEnvironment("Privacy__HashKey", privacyKey)
            .WithSection(builder, "Collector")
            .WithDaprSidecar(infra, daprToken);
        // The consuming services scale out (Services:Replicas, default 1): each replica has its own sidecar and shares
        // its app's queues with the others, as pods of one Deployment would.
        var replicas = builder.ConsumerReplicas();
        var consent = builder.AddReplicatedService<Projects.Personalization_Consent>("consent", replicas, (service, appId) => service
            .WithInfrastructure(infra, infra.Redis, infra.Database)
            .WithEnvironment("Privacy__HashKey", privacyKey)
            .WithDaprSidecar(infra, daprToken, appId));
        // Geo from the GeoLite2 City database its build puts beside it (in the image too); the AppHost's own Enrichment
        // section (a third-party provider's URL, bot limits, …) goes to every replica.
        builder.AddReplicatedService<Projects.Personalization_Enrichment>("enrichment", replicas, (service, appId) => service
            .WithInfrastructure(infra, infra.Redis)
            .WithEnvironment("Privacy__HashKey", privacyKey)
            .WithEnvironment("Enrichment__GeoDatabase", "geo")
            .WithSection(builder, "Enrichment")
            .WithDaprSidecar(infra, daprToken, appId));
        var aggregation = builder.AddReplicatedService<Projects.Personalization_Aggregation>("aggregation", replicas, (service, appId) => service
            .WithInfrastructure(infra, infra.Redis, infra.Database)
            .WithEnvironment("Privacy__HashKey", privacyKey)
            .WithSection(builder, "Aggregation")
            .WithDaprSidecar(infra, daprToken, appId));
        // Serves profiles, decisions (placements in the record store) and live streams of changes.
        var profileQuery = builder.AddService<Projects.Personalization_ProfileQuery>("profile-query")
            .WithInfrastructure(infra, infra.Redis, infra.Database)
            .WithEnvironment("Privacy__HashKey", privacyKey)
            .WithDaprSidecar(infra, daprToken);

        // 3. The gateway: the only public entry, with the API keys clients present and the key user tokens are signed
        //    with (new every run: a token lives minutes, and a restart only asks browsers for a new one).
        var userTokenKey = builder.AddParameter("user-token-key", new GenerateParameterDefault { MinLength = 48, Special = false }, secret: true);
        var keys = builder.AddApiKeys();
        var gateway = builder.AddService<Projects.Personalization_Gateway>("gateway", publicPort: builder.PublicPort("Gateway", 8080))
            .WithAnnotation(new ScalesOutAnnotation())
            .WithExternalHttpEndpoints()
            .WithApiKeys(keys)
            .WithEnvironment("UserTokens__SigningKey", userTokenKey)
            .WithReference(collector).WaitFor(collector)
            .WithReference(consent).WaitFor(consent)
            .WithReference(aggregation).WaitFor(aggregation)
            .WithReference(profileQuery).WaitFor(profileQuery);

        // 4. The demo storefront: a site using the platform as any site would, through the gateway's public URL.
        builder.AddService<Projects.Personalization_Storefront>("storefront", publicPort: builder.PublicPort("Storefront", 8081))
            .WithExternalHttpEndpoints()
            .WithEnvironment("Storefront__GatewayUrl", gateway.GetEndpoint("http"))
            .WithEnvironment("Storefront__WriteKey", keys.Write)
            .WithEnvironment("Storefront__AdminKey", keys.Admin)
            .WaitFor(gateway);
    }

    var app = builder.Build();
    if (KubernetesManifests.OutputFolder(builder) is { } output)
    {
        await KubernetesManifests.WriteAsync(app, builder.AppHostDirectory, output);
        return 0;
    }
    app.Run();
    return 0;
}
catch (UnexpressibleModelException unexpressible)
{
    Console.Error.WriteLine($"error: {unexpressible.Message}");
    return 2;
}
catch (InfrastructureUnavailableException unavailable)
{
    // One clear line a user can act on; no stack trace to dig through.
    Console.Error.WriteLine($"error: {unavailable.Message}");
    return 2;
}
