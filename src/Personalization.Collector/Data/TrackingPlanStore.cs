using Dapr;
using Dapr.Client;
using Grpc.Core;
using Personalization.Collector.Model;
using Personalization.Streaming;

namespace Personalization.Collector.Data;

/// <summary>
/// The tracking plans, one <see cref="TrackingPlanCatalog"/> in the record store under <see cref="TrackingPlanCatalog.Key"/>.
/// Ingestion reads them from memory (<see cref="ITrackingPlanSource"/>): re-read at most every
/// <see cref="RecordDocument{TDocument, TView}.RefreshInterval"/>, so a change reaches every collector within seconds, and
/// each plan's schema is built once per version, not per read. While the record store cannot be read, the plans last
/// read stay in force; before any could be read, ingestion answers 503 rather than let a block plan's events through.
/// </summary>
public sealed partial class TrackingPlanStore : RecordDocument<TrackingPlanCatalog, TrackingPlanSet>, ITrackingPlanSource
{
    public TrackingPlanStore(DaprClient dapr, TimeProvider clock, ILogger<TrackingPlanStore> logger)
        : this(dapr, clock, new Compiler(logger))
    {
    }

    private TrackingPlanStore(DaprClient dapr, TimeProvider clock, Compiler compiler)
        : base(dapr, clock, TrackingPlanCatalog.Key, TrackingPlanCatalog.Empty, compiler.Compile)
    {
    }

    async Task<TrackingPlanSet> ITrackingPlanSource.CurrentAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await CurrentAsync(cancellationToken);
        }
        catch (DaprException e)
        {
            throw new EventSinkUnavailableException($"Could not read the tracking plans: {e.InnerException?.Message ?? e.Message}", e);
        }
        catch (RpcException e)
        {
            throw new EventSinkUnavailableException($"Could not read the tracking plans: {e.Status.Detail}", e);
        }
        catch (HttpRequestException e)
        {
            throw new EventSinkUnavailableException($"Could not read the tracking plans: {e.Message}", e);
        }
    }

    /// <summary>Builds the plans of a catalog, reusing the schema of every plan whose version it built before.</summary>
    private sealed partial class Compiler(ILogger logger)
    {
        private Dictionary<(string Id, int Version), CompiledPlan> _built = [];

        public TrackingPlanSet Compile(TrackingPlanCatalog catalog)
        {
            var built = new Dictionary<(string Id, int Version), CompiledPlan>(catalog.Plans.Count);
            foreach (var plan in catalog.Plans)
            {
                var key = (plan.Id, plan.Version);
                if (!_built.TryGetValue(key, out var compiled))
                {
                    if (PlanSchema.Compile(plan.Schema, out var error) is not { } schema)
                    {
                        // Checked when it was saved; a schema this version of the library refuses is skipped, not fatal.
                        LogUnbuildable(logger, plan.Id, plan.Version, error?.Detail);
                        continue;
                    }
                    compiled = new CompiledPlan(plan, schema);
                }
                built[key] = compiled;
            }
            _built = built;
            return new TrackingPlanSet(built.Values);
        }

        [LoggerMessage(Level = LogLevel.Warning, Message = "Tracking plan {PlanId} version {Version} is skipped: {Error}")]
        private static partial void LogUnbuildable(ILogger logger, string planId, int version, string? error);
    }
}
