using Dapr;
using Grpc.Core;

namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

public static class DaprErrors
{
    /// <summary>The gRPC status the sidecar answered, found inside the SDK's DaprException.</summary>
    public static StatusCode GrpcStatusOf(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is RpcException rpc)
            {
                return rpc.StatusCode;
            }
        }

        throw new Xunit.Sdk.XunitException($"Expected a gRPC error from the sidecar, got {ex.GetType().Name}: {ex.Message}");
    }

    public static async Task<StatusCode> GrpcStatusOfAsync(Func<Task> call)
    {
        var ex = await Assert.ThrowsAnyAsync<DaprException>(call);
        return GrpcStatusOf(ex);
    }
}
