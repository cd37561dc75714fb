using System.Net;
using System.Net.Sockets;

namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

public static class FreePort
{
    /// <summary>A loopback port the OS reports free right now.</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
