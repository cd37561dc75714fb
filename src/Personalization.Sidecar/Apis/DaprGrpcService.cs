using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Personalization.Sidecar.Components;
using Personalization.Sidecar.Options;
using Personalization.Sidecar.State;
using Personalization.Sidecar.Subscriptions;
using GrpcDapr = Dapr.Client.Autogen.Grpc.v1.Dapr;

namespace Personalization.Sidecar.Apis;

/// <summary>
/// The Dapr gRPC API (<c>dapr.proto.runtime.v1.Dapr</c>) for the operations the sidecar implements. Dapr.Protos ships
/// the messages but no server base class, so <see cref="DaprGrpcMethodProvider"/> binds these handlers by name;
/// every other RPC of the service answers UNIMPLEMENTED.
/// </summary>
public sealed class DaprGrpcService(DaprCore core, SidecarOptions options, ComponentRegistry components,
    SubscriptionHost subscriptions, IHostApplicationLifetime lifetime)
{
    private static readonly Empty EmptyReply = new();

    public async Task<GetStateResponse> GetState(GetStateRequest request, ServerCallContext context)
    {
        var entry = await core.GetStateAsync(request.StoreName, request.Key, context.CancellationToken);
        var response = new GetStateResponse();
        if (entry is null) return response;
        // The stores hand out a fresh array per read, owned by this response alone: wrapped, not copied.
        response.Data = UnsafeByteOperations.UnsafeWrap(entry.Data);
        response.Etag = entry.ETag;
        if (entry.Metadata is not null) foreach (var (k, v) in entry.Metadata) response.Metadata[k] = v;
        return response;
    }

    public async Task<GetBulkStateResponse> GetBulkState(GetBulkStateRequest request, ServerCallContext context)
    {
        var items = await core.GetBulkStateAsync(request.StoreName, request.Keys, context.CancellationToken);
        var response = new GetBulkStateResponse();
        foreach (var item in items)
        {
            var bulkItem = new BulkStateItem { Key = item.Key, Error = item.Error ?? "" };
            if (item.Entry is { } entry)
            {
                bulkItem.Data = UnsafeByteOperations.UnsafeWrap(entry.Data);
                bulkItem.Etag = entry.ETag;
                if (entry.Metadata is not null) foreach (var (k, v) in entry.Metadata) bulkItem.Metadata[k] = v;
            }
            response.Items.Add(bulkItem);
        }
        return response;
    }

    public async Task<Empty> SaveState(SaveStateRequest request, ServerCallContext context)
    {
        await core.SaveStateAsync(request.StoreName, request.States.Select(ToSave).ToList(), context.CancellationToken);
        return EmptyReply;
    }

    public async Task<Empty> DeleteState(DeleteStateRequest request, ServerCallContext context)
    {
        await core.DeleteStateAsync(request.StoreName,
            [(request.Key, request.Etag?.Value, Concurrency(request.Options), request.Metadata)], context.CancellationToken);
        return EmptyReply;
    }

    public async Task<Empty> DeleteBulkState(DeleteBulkStateRequest request, ServerCallContext context)
    {
        await core.DeleteStateAsync(request.StoreName,
            request.States.Select(s => (s.Key, s.Etag?.Value, Concurrency(s.Options), (IReadOnlyDictionary<string, string>)s.Metadata)).ToList(),
            context.CancellationToken);
        return EmptyReply;
    }

    public async Task<Empty> ExecuteStateTransaction(ExecuteStateTransactionRequest request, ServerCallContext context)
    {
        var operations = request.Operations.Select(op => op.OperationType switch
        {
            "upsert" => (object)ToSave(op.Request ?? throw DaprError.Malformed("upsert operation without request")),
            "delete" => new StateDelete(op.Request?.Key ?? "", op.Request?.Etag?.Value, Concurrency(op.Request?.Options), op.Request?.Metadata ?? new()),
            var other => throw DaprError.Malformed($"operation type {other} not supported"),
        }).ToList();
        await core.TransactAsync(request.StoreName, operations, context.CancellationToken);
        return EmptyReply;
    }

    public async Task<Empty> PublishEvent(PublishEventRequest request, ServerCallContext context)
    {
        await core.PublishAsync(request.PubsubName, request.Topic, request.Data.Memory, request.DataContentType, request.Metadata, context.CancellationToken);
        return EmptyReply;
    }

    public async Task<BulkPublishResponse> BulkPublishEvent(BulkPublishRequest request, ServerCallContext context)
    {
        var failed = await core.BulkPublishAsync(request.PubsubName, request.Topic,
            request.Entries.Select(e => new PublishEntry(e.EntryId, e.Event.Memory, e.ContentType, e.Metadata)).ToList(),
            request.Metadata, context.CancellationToken);
        var response = new BulkPublishResponse();
        response.FailedEntries.AddRange(failed.Select(f => new BulkPublishResponseFailedEntry { EntryId = f.EntryId, Error = f.Error }));
        return response;
    }

    public Task<BulkPublishResponse> BulkPublishEventAlpha1(BulkPublishRequest request, ServerCallContext context) => BulkPublishEvent(request, context);

    public Task<GetSecretResponse> GetSecret(GetSecretRequest request, ServerCallContext context)
    {
        var response = new GetSecretResponse();
        foreach (var (k, v) in core.GetSecret(request.StoreName, request.Key)) response.Data[k] = v;
        return Task.FromResult(response);
    }

    public Task<GetBulkSecretResponse> GetBulkSecret(GetBulkSecretRequest request, ServerCallContext context)
    {
        var response = new GetBulkSecretResponse();
        foreach (var (name, values) in core.GetBulkSecret(request.StoreName))
        {
            var secret = new SecretResponse();
            foreach (var (k, v) in values) secret.Secrets[k] = v;
            response.Data[name] = secret;
        }
        return Task.FromResult(response);
    }

    public Task<GetMetadataResponse> GetMetadata(GetMetadataRequest request, ServerCallContext context)
    {
        var response = new GetMetadataResponse { Id = options.AppId, RuntimeVersion = MetadataInfo.RuntimeVersion };
        foreach (var c in components.Loaded)
        {
            var registered = new RegisteredComponents { Name = c.Name, Type = c.Type, Version = c.Version };
            registered.Capabilities.AddRange(MetadataInfo.Capabilities(c.Type));
            response.RegisteredComponents.Add(registered);
        }
        foreach (var s in subscriptions.Active)
        {
            var subscription = new PubsubSubscription
            {
                PubsubName = s.PubsubName, Topic = s.Topic, DeadLetterTopic = s.DeadLetterTopic ?? "",
                Rules = new PubsubSubscriptionRules(),
                Type = s.Type == "DECLARATIVE" ? PubsubSubscriptionType.Declarative : PubsubSubscriptionType.Programmatic,
            };
            foreach (var (k, v) in s.Metadata) subscription.Metadata[k] = v;
            subscription.Rules.Rules.AddRange(s.Rules.Select(r => new PubsubSubscriptionRule { Match = r.Match, Path = r.Path }));
            response.Subscriptions.Add(subscription);
        }
        response.AppConnectionProperties = new AppConnectionProperties
        {
            Port = options.AppPort ?? 0, Protocol = options.AppProtocol, ChannelAddress = options.AppChannelAddress,
        };
        return Task.FromResult(response);
    }

    public Task<Empty> Shutdown(ShutdownRequest request, ServerCallContext context)
    {
        _ = Task.Run(async () =>
        {
            await Task.Delay(100);
            lifetime.StopApplication();
        });
        return Task.FromResult(EmptyReply);
    }

    private static SaveItem ToSave(StateItem item) =>
        new(item.Key, item.Value.Memory, item.Etag?.Value, Concurrency(item.Options), item.Metadata);

    private static StateConcurrency Concurrency(StateOptions? options) => options?.Concurrency switch
    {
        StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite => StateConcurrency.FirstWrite,
        StateOptions.Types.StateConcurrency.ConcurrencyLastWrite => StateConcurrency.LastWrite,
        _ => StateConcurrency.Unspecified,
    };
}

/// <summary>What the metadata APIs report.</summary>
public static class MetadataInfo
{
    public const string RuntimeVersion = "1.19.0-personalization-sidecar";

    public static IReadOnlyList<string> Capabilities(string type) => type switch
    {
        "state.redis" => ["ETAG", "TRANSACTIONAL", "TTL", "ACTOR"],
        "state.postgresql" => ["ETAG", "TRANSACTIONAL", "TTL", "ACTOR"],
        "pubsub.rabbitmq" => ["SUBSCRIBE_WILDCARDS"],
        _ => [],
    };
}

/// <summary>
/// Binds <see cref="DaprGrpcService"/>'s handlers to the methods of Dapr.Protos' service descriptor: per method a
/// <see cref="Method{TRequest,TResponse}"/> with marshallers from the message parsers, checked against the descriptor's
/// CLR types at start.
/// </summary>
public sealed class DaprGrpcMethodProvider : IServiceMethodProvider<DaprGrpcService>
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<DaprGrpcService> context)
    {
        Add<GetStateRequest, GetStateResponse>(context, "GetState", (s, r, c) => s.GetState(r, c));
        Add<GetBulkStateRequest, GetBulkStateResponse>(context, "GetBulkState", (s, r, c) => s.GetBulkState(r, c));
        Add<SaveStateRequest, Empty>(context, "SaveState", (s, r, c) => s.SaveState(r, c));
        Add<DeleteStateRequest, Empty>(context, "DeleteState", (s, r, c) => s.DeleteState(r, c));
        Add<DeleteBulkStateRequest, Empty>(context, "DeleteBulkState", (s, r, c) => s.DeleteBulkState(r, c));
        Add<ExecuteStateTransactionRequest, Empty>(context, "ExecuteStateTransaction", (s, r, c) => s.ExecuteStateTransaction(r, c));
        Add<PublishEventRequest, Empty>(context, "PublishEvent", (s, r, c) => s.PublishEvent(r, c));
        Add<BulkPublishRequest, BulkPublishResponse>(context, "BulkPublishEvent", (s, r, c) => s.BulkPublishEvent(r, c));
        Add<BulkPublishRequest, BulkPublishResponse>(context, "BulkPublishEventAlpha1", (s, r, c) => s.BulkPublishEventAlpha1(r, c));
        Add<GetMetadataRequest, GetMetadataResponse>(context, "GetMetadata", (s, r, c) => s.GetMetadata(r, c));
        Add<GetSecretRequest, GetSecretResponse>(context, "GetSecret", (s, r, c) => s.GetSecret(r, c));
        Add<GetBulkSecretRequest, GetBulkSecretResponse>(context, "GetBulkSecret", (s, r, c) => s.GetBulkSecret(r, c));
        Add<ShutdownRequest, Empty>(context, "Shutdown", (s, r, c) => s.Shutdown(r, c));
    }

    private static void Add<TRequest, TResponse>(ServiceMethodProviderContext<DaprGrpcService> context, string name,
        UnaryServerMethod<DaprGrpcService, TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new()
    {
        var descriptor = GrpcDapr.Descriptor.FindMethodByName(name)
            ?? throw new InvalidOperationException($"Dapr.Protos has no method {name}");
        if (descriptor.InputType.ClrType != typeof(TRequest) || descriptor.OutputType.ClrType != typeof(TResponse))
            throw new InvalidOperationException($"Dapr.Protos method {name} takes {descriptor.InputType.ClrType} and returns {descriptor.OutputType.ClrType}");
        var requestParser = new MessageParser<TRequest>(() => new TRequest());
        var responseParser = new MessageParser<TResponse>(() => new TResponse());
        var method = new Method<TRequest, TResponse>(MethodType.Unary, GrpcDapr.Descriptor.FullName, name,
            Marshallers.Create(m => m.ToByteArray(), requestParser.ParseFrom),
            Marshallers.Create(m => m.ToByteArray(), responseParser.ParseFrom));
        context.AddUnaryMethod(method, [new Microsoft.AspNetCore.Routing.HttpMethodMetadata(["POST"])], handler);
    }
}

/// <summary>
/// Every gRPC call: rejects calls without the right <c>dapr-api-token</c> when <c>DAPR_API_TOKEN</c> is set
/// (UNAUTHENTICATED), turns <see cref="DaprError"/> into its status, and any other failure into INTERNAL — a call can
/// fail, the sidecar does not.
/// </summary>
public sealed partial class DaprGrpcInterceptor(ApiToken token, ILogger<DaprGrpcInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        if (!token.Accepts(context.RequestHeaders.GetValue(ApiToken.Header))) throw DaprError.Unauthorized().ToRpc();
        try
        {
            return await continuation(request, context);
        }
        catch (DaprError e)
        {
            throw e.ToRpc();
        }
        catch (Exception e) when (e is not (RpcException or OperationCanceledException))
        {
            LogUnexpected(logger, context.Method, e);
            throw new RpcException(new Status(StatusCode.Internal, e.Message));
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "gRPC {Method} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, string method, Exception error);
}

/// <summary><c>DAPR_API_TOKEN</c>: when set, every API call except the health endpoints must carry it as <c>dapr-api-token</c>.</summary>
public sealed class ApiToken(string? expected)
{
    public const string Header = "dapr-api-token";

    public bool Accepts(string? given) => expected is null || (given is not null &&
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes(expected)));
}
