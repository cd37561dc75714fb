using Microsoft.Extensions.Configuration;

namespace Personalization.AppHost.Infrastructure;

/// <summary>How Redis, PostgreSQL and RabbitMQ are run: as containers or as the machine's own binaries.</summary>
public enum InfrastructureMode { Containers, Local }

/// <summary>
/// <c>Infrastructure:*</c> settings (configuration, or environment as <c>Infrastructure__Mode</c>).
/// </summary>
public sealed record InfrastructureOptions(string Mode, string DataDirectory, string? RedisServer, string? PostgresBin, string? RabbitMqServer)
{
    public static InfrastructureOptions From(IConfiguration configuration, string appHostDirectory)
    {
        var section = configuration.GetSection("Infrastructure");
        var dataDirectory = section["DataDirectory"] is { Length: > 0 } configured ? configured : ".infra";
        return new InfrastructureOptions(
            Mode: (section["Mode"] ?? "auto").Trim().ToLowerInvariant(),
            DataDirectory: Path.GetFullPath(dataDirectory, appHostDirectory),
            RedisServer: section["RedisServer"],
            PostgresBin: section["PostgresBin"],
            RabbitMqServer: section["RabbitMqServer"]);
    }
}

/// <summary>A forced or detected setup that cannot work, with the one message a user needs to fix it.</summary>
public sealed class InfrastructureUnavailableException(string message) : Exception(message);
