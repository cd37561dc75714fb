using Personalization.Gateway.Model;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Personalization.Gateway.Extensions;

/// <summary>
/// On every route: the client's own <c>X-Source</c> is dropped and replaced by the source of the
/// write key the gateway resolved; API keys stay at the gateway (services behind it trust it instead).
/// </summary>
public sealed class ForwardingTransforms : ITransformProvider
{
    public const string SourceHeader = "X-Source";

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
            headers.Remove(PresentedCredentials.WriteKeyHeader);
            headers.Authorization = null;
            var source = transform.HttpContext.User.FindFirst(ApiKeyAuthenticationHandler.SourceClaim)?.Value;
            if (source is not null)
            {
                headers.TryAddWithoutValidation(SourceHeader, source);
            }
            return ValueTask.CompletedTask;
        });
}
