using Personalization.Sidecar.Options;

namespace Personalization.Sidecar.Apis;

/// <summary>
/// Service invocation, <c>/v1.0/invoke/{app-id}/method/{path}</c>: the request is forwarded (method, headers, query,
/// body) to the target app and its answer streamed back.
/// <para>
/// Where apps are: this sidecar's own app at <c>http://{app-channel-address}:{app-port}</c>; any other app id from the
/// environment variable <c>DAPR_APP_ADDRESS__{APPID}</c> = <c>http://host:port</c>, the app id upper-cased with
/// <c>-</c> turned into <c>_</c> (so <c>profile-query</c> → <c>DAPR_APP_ADDRESS__PROFILE_QUERY</c>); the AppHost sets one
/// per service. Calls go straight to the target app (there is no sidecar-to-sidecar hop), carrying
/// <c>APP_API_TOKEN</c> as <c>dapr-api-token</c> when set.
/// </para>
/// </summary>
public static class Invocation
{
    private static readonly HttpClient Client = new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "TE", "Trailer", ApiToken.Header,
    };

    public static string EnvironmentVariableFor(string appId) =>
        "DAPR_APP_ADDRESS__" + appId.ToUpperInvariant().Replace('-', '_');

    public static Uri? Resolve(string appId, SidecarOptions options)
    {
        if (appId == options.AppId) return options.AppBaseAddress;
        return Environment.GetEnvironmentVariable(EnvironmentVariableFor(appId)) is { Length: > 0 } address
            && Uri.TryCreate(address, UriKind.Absolute, out var uri) ? uri : null;
    }

    public static async Task InvokeAsync(string appId, string? path, HttpContext context, SidecarOptions options)
    {
        // "app.namespace" names the namespace too; locally there is only one.
        var id = appId.Split('.')[0];
        var target = Resolve(id, options)
            ?? throw DaprError.DirectInvoke(id, $"app id {id} is unknown: this sidecar's app is '{options.AppId}' and {EnvironmentVariableFor(id)} is not set");
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method),
            new Uri(target, "/" + (path ?? "") + context.Request.QueryString));
        if (context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0)
            request.Content = new StreamContent(context.Request.Body);
        foreach (var (name, values) in context.Request.Headers)
        {
            if (HopByHop.Contains(name)) continue;
            if (!request.Headers.TryAddWithoutValidation(name, values.ToArray()))
                request.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
        }
        if (Environment.GetEnvironmentVariable("APP_API_TOKEN") is { Length: > 0 } token) request.Headers.TryAddWithoutValidation(ApiToken.Header, token);

        HttpResponseMessage response;
        try
        {
            response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        }
        catch (HttpRequestException e)
        {
            throw DaprError.DirectInvoke(id, e.Message);
        }
        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (!HopByHop.Contains(name)) context.Response.Headers[name] = values.ToArray();
            }
            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
        }
    }
}
