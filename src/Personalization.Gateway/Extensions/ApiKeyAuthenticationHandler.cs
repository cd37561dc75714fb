using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Personalization.Gateway.Model;
using Yarp.ReverseProxy.Model;

namespace Personalization.Gateway.Extensions;

/// <summary>
/// Authenticates a request by its API key (see <see cref="PresentedCredentials"/>) or user token
/// (<see cref="UserTokens"/>: a Bearer token, or <c>access_token</c> in the query of a GET, since a browser's
/// EventSource and WebSocket cannot set headers). No key or an unknown key, an expired or forged token: 401
/// problem+json with WWW-Authenticate; a known key of the wrong kind: 403.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyRegistry registry,
    UserTokens userTokens)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string KindClaim = "key_kind";
    public const string KeyIdClaim = "key_id";
    public const string SourceClaim = "source";
    /// <summary>The user a user token was minted for.</summary>
    public const string UserClaim = "user_id";
    public const string AccessTokenQuery = "access_token";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = PresentedCredentials.From(Request.Headers.Authorization, Request.Headers[PresentedCredentials.WriteKeyHeader]);
        if (presented is PresentedCredentials.None && HttpMethods.IsGet(Request.Method) && Request.Query[AccessTokenQuery].ToString() is { Length: > 0 } queryToken)
        {
            presented = new PresentedCredentials.Key(queryToken);
        }
        if (presented is PresentedCredentials.Key token && UserTokens.LooksLikeToken(token.Value))
        {
            var (userId, refusal) = await userTokens.ValidateAsync(token.Value);
            if (userId is null) return AuthenticateResult.Fail(refusal!);
            var user = new ClaimsPrincipal(new ClaimsIdentity(
                [new Claim(KindClaim, nameof(KeyKind.User)), new Claim(KeyIdClaim, "user:" + userId), new Claim(UserClaim, userId)],
                SchemeName, KeyIdClaim, KindClaim));
            return AuthenticateResult.Success(new AuthenticationTicket(user, SchemeName));
        }
        return Authenticate(presented);
    }

    private AuthenticateResult Authenticate(PresentedCredentials presented)
    {
        switch (presented)
        {
            case PresentedCredentials.Malformed malformed:
                return AuthenticateResult.Fail(malformed.Reason);
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
                return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
            case PresentedCredentials.Key:
                return AuthenticateResult.Fail("The API key is not known");
            default:
                return AuthenticateResult.NoResult();
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
        var given = kind == "user" ? "a user token" : $"a {kind} key";
        return GatewayProblems.WriteAsync(Context, StatusCodes.Status403Forbidden, GatewayProblems.Forbidden,
            "The API key may not do this", $"This route needs {Policies.Describe(policy)}; the credential given is {given}.");
    }
}
