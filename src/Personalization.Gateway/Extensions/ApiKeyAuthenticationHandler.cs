using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Personalization.Gateway.Model;
using Yarp.ReverseProxy.Model;

namespace Personalization.Gateway.Extensions;

/// <summary>
/// Authenticates a request by its API key (see <see cref="PresentedCredentials"/>). No key or an
/// unknown key: 401 problem+json with WWW-Authenticate; a known key of the wrong kind: 403.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyRegistry registry)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string KindClaim = "key_kind";
    public const string KeyIdClaim = "key_id";
    public const string SourceClaim = "source";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = PresentedCredentials.From(Request.Headers.Authorization, Request.Headers[PresentedCredentials.WriteKeyHeader]);
        switch (presented)
        {
            case PresentedCredentials.Malformed malformed:
                return Task.FromResult(AuthenticateResult.Fail(malformed.Reason));
            case PresentedCredentials.Key key when registry.Find(key.Value) is { } identity:
                var claims = new List<Claim>
                {
                    new(KindClaim, identity.Kind.ToString()),
                    new(KeyIdClaim, identity.Id),
                };
                if (identity.Source is not null)
                {
                    claims.Add(new Claim(SourceClaim, identity.Source));
                }
                var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName, KeyIdClaim, KindClaim));
                return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
            case PresentedCredentials.Key:
                return Task.FromResult(AuthenticateResult.Fail("The API key is not known"));
            default:
                return Task.FromResult(AuthenticateResult.NoResult());
        }
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        var detail = result.Failure?.Message
            ?? "This route needs an API key: a write key as the HTTP Basic user name or in X-Write-Key, a read or admin key as a Bearer token";
        Response.Headers.WWWAuthenticate = new[] { "Basic realm=\"personalization\"", "Bearer realm=\"personalization\"" };
        await GatewayProblems.WriteAsync(Context, StatusCodes.Status401Unauthorized, GatewayProblems.Unauthorized,
            "Missing or unknown API key", detail);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var policy = Context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>()?.Config.AuthorizationPolicy;
        var kind = Context.User.FindFirst(KindClaim)?.Value.ToLowerInvariant() ?? "unknown";
        return GatewayProblems.WriteAsync(Context, StatusCodes.Status403Forbidden, GatewayProblems.Forbidden,
            "The API key may not do this", $"This route needs {Policies.Describe(policy)}; the key given is a {kind} key.");
    }
}
