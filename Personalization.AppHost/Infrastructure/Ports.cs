using System.Net;
using System.Net.Sockets;

namespace Personalization.AppHost.Infrastructure;

internal static class Ports
{
    /// <summary>A loopback port free right now (the OS picks it). For ports only our own processes use.</summary>
    public static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
