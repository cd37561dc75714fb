using System.Net;
using System.Net.Sockets;

namespace Personalization.AppHost.Infrastructure;

internal static class Ports
{
    // Below Linux's ephemeral range (32768-60999): a port picked here stays free until its process binds it, whereas
    // one from the ephemeral range can be taken meanwhile as the source port of any outgoing connection.
    private const int First = 20000;
    private const int Last = 32000;

    private static readonly HashSet<int> Given = [];

    /// <summary>
    /// A loopback port free right now, never the same twice in this AppHost (the processes bind them only later, so
    /// the operating system cannot tell they are spoken for). For ports only our own processes use.
    /// </summary>
    public static int FreeLoopbackPort()
    {
        lock (Given)
        {
            for (var attempt = 0; attempt < 1000; attempt++)
            {
                var port = Random.Shared.Next(First, Last);
                if (Given.Contains(port) || !IsFree(port)) continue;
                Given.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException($"no free loopback port between {First} and {Last}");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
