using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Contracts;
using Personalization.Gateway.Extensions;
using Personalization.Gateway.Model;

namespace Personalization.Gateway.Apis;

/// <summary>What <c>POST /v1/tokens</c> takes: the user to mint a token for, and for how long (seconds; default and most from <see cref="UserTokenOptions"/>).</summary>
public sealed record TokenRequest(string? UserId, int? TtlSeconds);

/// <summary>A minted user token and when it expires.</summary>
public sealed record TokenResponse(string Token, string UserId, DateTimeOffset ExpiresAt);

/// <summary>
/// <c>POST /v1/tokens</c> (admin key): mints a user token (<see cref="UserTokens"/>) for the site's server to hand to
/// that user's browser. 400 problem+json naming the field for an unusable user id or lifetime.
/// </summary>
public static class TokenApi
{

    public static IEndpointConventionBuilder MapTokenApiV1(this IEndpointRouteBuilder app) =>
        app.MapPost("/v1/tokens", Mint).RequireAuthorization(Policies.AdminKey).WithTags("Tokens");

    public static async Task<Results<Created<TokenResponse>, ProblemHttpResult>> Mint(HttpRequest request, UserTokens tokens, CancellationToken ct)
    {
        if (!tokens.Enabled)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "User tokens are off",
                detail: "this gateway has no UserTokens:SigningKey of at least 32 bytes");
        }
        TokenRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync(request.Body, GatewayJsonContext.Default.TokenRequest, ct);
        }
        catch (JsonException e)
        {
            return Invalid("body", $"is not a JSON object of userId and ttlSeconds: {e.Message}");
        }
        if (body is null) return Invalid("body", "is required: {\"userId\": \"...\", \"ttlSeconds\": 900}");
        if (UserIds.Problem(body.UserId) is { } problem) return Invalid("userId", problem);
        var max = (int)tokens.Options.MaxLifetime.TotalSeconds;
        if (body.TtlSeconds is { } ttl && (ttl < 60 || ttl > max)) return Invalid("ttlSeconds", $"must be between 60 and {max}");
        var lifetime = body.TtlSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : tokens.Options.DefaultLifetime;
        var (token, expiresAt) = tokens.Mint(body.UserId!, lifetime);
        return TypedResults.Created((string?)null, new TokenResponse(token, body.UserId!, expiresAt));
    }

    private static ProblemHttpResult Invalid(string field, string problem) => TypedResults.Problem(
        detail: $"{field}: {problem}", statusCode: StatusCodes.Status400BadRequest, title: "Invalid request", type: Microsoft.Extensions.Hosting.ProblemResponses.InvalidRequest,
        extensions: new Dictionary<string, object?> { ["field"] = field });
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(System.Text.Json.Nodes.JsonObject))]
public sealed partial class GatewayJsonContext : JsonSerializerContext;
