using Personalization.Contracts;
using Personalization.Gateway.Model;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Personalization.Gateway.Extensions;

/// <summary>
/// On every route: the client's own <c>X-Source</c> and <c>X-Api-Key-Id</c> are dropped and replaced by the source of
/// the write key and the id of the key the gateway resolved (the consent ledger records which key made each change);
/// API keys stay at the gateway (services behind it trust it instead). A request made with a user token carries its
/// user in <see cref="GatewayHeaders.TokenUser"/> (the client's own is dropped), so the service answers only for that user.
/// </summary>
public sealed class ForwardingTransforms : ITransformProvider
{
    public const string SourceHeader = "X-Source";
    public const string KeyIdHeader = "X-Api-Key-Id";

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context) =>
        context.AddRequestTransform(transform =>
        {
            var headers = transform.ProxyRequest.Headers;
            headers.Remove(SourceHeader);
            headers.Remove(KeyIdHeader);
            headers.Remove(PresentedCredentials.WriteKeyHeader);
            headers.Remove(GatewayHeaders.TokenUser);
            headers.Authorization = null;
            // A token in the query (EventSource, WebSocket) stays here too, out of the services' logs.
            transform.Query.Collection.Remove(ApiKeyAuthenticationHandler.AccessTokenQuery);
            var source = transform.HttpContext.User.FindFirst(ApiKeyAuthenticationHandler.SourceClaim)?.Value;
            if (source is not null)
            {
                headers.TryAddWithoutValidation(SourceHeader, source);
            }
            if (transform.HttpContext.User.FindFirst(ApiKeyAuthenticationHandler.KeyIdClaim)?.Value is { } keyId)
            {
                headers.TryAddWithoutValidation(KeyIdHeader, keyId);
            }
            if (transform.HttpContext.User.FindFirst(ApiKeyAuthenticationHandler.UserClaim)?.Value is { } user)
            {
                headers.TryAddWithoutValidation(GatewayHeaders.TokenUser, user);
            }
            return ValueTask.CompletedTask;
        });
}
