namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

/// <summary>Bounded polling: every wait in the suite has a deadline and says what it waited for.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    public static async Task<T> ReturnsAsync<T>(
        Func<Task<T?>> probe, string waitingFor, TimeSpan? timeout = null, Func<string>? diagnostics = null)
        where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        Exception? last = null;
        while (true)
        {
            try
            {
                var value = await probe();
                if (value is not null)
                {
                    return value;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not GiveUpException)
            {
                last = ex;
            }

            if (DateTime.UtcNow >= deadline)
            {
                var message = $"Timed out after {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s waiting for {waitingFor}.";
                if (last is not null)
                {
                    message += $" Last error: {last.GetType().Name}: {last.Message}";
                }

                if (diagnostics is not null)
                {
                    message += Environment.NewLine + diagnostics();
                }

                throw new TimeoutException(message);
            }

            await Task.Delay(50);
        }
    }

    public static async Task IsTrueAsync(
        Func<Task<bool>> probe, string waitingFor, TimeSpan? timeout = null, Func<string>? diagnostics = null)
    {
        await ReturnsAsync<object>(async () => await probe() ? new object() : null, waitingFor, timeout, diagnostics);
    }

    public static Task IsTrueAsync(
        Func<bool> probe, string waitingFor, TimeSpan? timeout = null, Func<string>? diagnostics = null) =>
        IsTrueAsync(() => Task.FromResult(probe()), waitingFor, timeout, diagnostics);
}

/// <summary>Thrown by a probe when waiting longer cannot help (the process under test is gone).</summary>
public sealed class GiveUpException(string message) : Exception(message);
