using System.Collections.Concurrent;
using Personalization.Sidecar.Options;

namespace Personalization.Sidecar.Subscriptions;

/// <summary>
/// HTTP calls from the sidecar to its app at <c>http://{app-channel-address}:{app-port}</c>. <c>APP_API_TOKEN</c>, when
/// set, goes along as header <c>dapr-api-token</c>. This client has no retry handler of its own: retries are the
/// resiliency policy's business.
/// </summary>
public sealed class AppChannel : IDisposable
{
    public const string TokenHeader = "dapr-api-token";
    private readonly HttpClient _http;
    private readonly string? _token = Environment.GetEnvironmentVariable("APP_API_TOKEN") is { Length: > 0 } t ? t : null;
    private readonly ConcurrentDictionary<string, Uri> _uris = new();

    public AppChannel(SidecarOptions options)
    {
        BaseAddress = options.AppBaseAddress;
        _http = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            UseCookies = false,
            AllowAutoRedirect = false,
            // No HttpClient span and no header injection: the delivery sets traceparent itself, from its own span when
            // the message is sampled and from the message when it is not, so an unsampled delivery allocates no Activity.
            ActivityHeadersPropagator = null,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public Uri? BaseAddress { get; }

    public async Task<(int Status, byte[] Body)> SendAsync(HttpMethod method, string path, ReadOnlyMemory<byte>? body, string? contentType,
        IReadOnlyList<KeyValuePair<string, string>>? headers, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, Address(path));
        if (body is { } content)
        {
            request.Content = new ReadOnlyMemoryContent(content);
            if (contentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }
        if (headers is not null)
        {
            for (var i = 0; i < headers.Count; i++) request.Headers.TryAddWithoutValidation(headers[i].Key, headers[i].Value);
        }
        if (_token is not null) request.Headers.TryAddWithoutValidation(TokenHeader, _token);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
        return ((int)response.StatusCode, await response.Content.ReadAsByteArrayAsync(ct));
    }

    // A delivery path is one of a handful of routes: resolve each once.
    private Uri Address(string path) =>
        _uris.GetOrAdd(path, static (p, baseAddress) => new Uri(baseAddress ?? throw new InvalidOperationException("no --app-port"), p), BaseAddress);

    /// <summary>True once something accepts TCP connections on the app port.</summary>
    /// <summary>Returns once the app accepts connections again, checking four times a second.</summary>
    public async Task WaitUntilReachableAsync(CancellationToken ct)
    {
        do
        {
            await Task.Delay(250, ct);
        }
        while (!await PortOpenAsync(ct));
    }

    public async Task<bool> PortOpenAsync(CancellationToken ct)
    {
        if (BaseAddress is null) return false;
        try
        {
            using var socket = new System.Net.Sockets.TcpClient();
            await socket.ConnectAsync(BaseAddress.Host, BaseAddress.Port, ct);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    public void Dispose() => _http.Dispose();
}
