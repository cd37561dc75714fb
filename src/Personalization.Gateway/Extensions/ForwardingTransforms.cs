using Personalization.Gateway.Model;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Personalization.Gateway.Extensions;

/// <summary>
/// On every route: the client's own <c>X-Source</c> and <c>X-Api-Key-Id</c> are dropped and replaced by the source of
/// the write key and the id of the key the gateway resolved (the consent ledger records which key made each change);
/// API keys stay at the gateway (services behind it trust it instead).
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
            headers.Authorization = null;
            var source = transform.HttpContext.User.FindFirst(ApiKeyAuthenticationHandler.SourceClaim)?.Value;
            if (source is not null)
            {
                headers.TryAddWithoutValidation(SourceHeader, source);
            }
            if (transform.HttpContext.User.FindFirst(ApiKeyAuthenticationHandler.KeyIdClaim)?.Value is { } keyId)
            {
                headers.TryAddWithoutValidation(KeyIdHeader, keyId);
            }
            return ValueTask.CompletedTask;
        });
}
