namespace Personalization.Sidecar.ConformanceTests.Infrastructure;

/// <summary>
/// A class fixture that starts what one test class needs (sidecars, test apps, a resources folder) the first time
/// a test of the class asks for it, because xunit 2 cannot hand the shared infrastructure to a class fixture's constructor.
/// </summary>
public abstract class SidecarFixture : IAsyncLifetime
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<IAsyncDisposable> _owned = [];
    private bool _started;
    private Exception? _startFailure;

    /// <summary>A suffix unique to this run, so topics, queues and app-ids never meet a previous run's leftovers.</summary>
    public static readonly string RunId = Guid.NewGuid().ToString("N")[..8];

    public InfrastructureFixture Infra { get; private set; } = null!;

    public ResourcesFolder Resources { get; } = new();

    public async Task EnsureStartedAsync(InfrastructureFixture infra)
    {
        await _gate.WaitAsync();
        try
        {
            if (_startFailure is not null)
            {
                throw new InvalidOperationException("The class fixture failed to start for an earlier test.", _startFailure);
            }

            if (_started)
            {
                return;
            }

            Infra = infra;
            try
            {
                await StartAsync();
                _started = true;
            }
            catch (Exception ex)
            {
                _startFailure = ex;
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    protected abstract Task StartAsync();

    /// <summary>Registers something to dispose (kill) when the class is done, last registered first.</summary>
    protected T Own<T>(T disposable)
        where T : IAsyncDisposable
    {
        lock (_owned)
        {
            _owned.Add(disposable);
        }

        return disposable;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        List<IAsyncDisposable> owned;
        lock (_owned)
        {
            owned = [.. _owned];
            _owned.Clear();
        }

        owned.Reverse();
        foreach (var item in owned)
        {
            await item.DisposeAsync();
        }

        Resources.Dispose();
    }
}
