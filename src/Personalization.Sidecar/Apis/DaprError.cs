using Grpc.Core;

namespace Personalization.Sidecar.Apis;

/// <summary>An API error in Dapr's shape: HTTP <c>{"errorCode","message"}</c> with a status code, or a gRPC status.</summary>
public sealed class DaprError(string errorCode, string message, int httpStatus, StatusCode grpcStatus) : Exception(message)
{
    public string ErrorCode => errorCode;
    public int HttpStatus => httpStatus;
    public StatusCode GrpcStatus => grpcStatus;

    public RpcException ToRpc() => new(new Status(grpcStatus, Message));

    // Codes, messages and statuses follow daprd's pkg/messages.
    public static DaprError StateStoresNotConfigured() => new("ERR_STATE_STORE_NOT_CONFIGURED", "state store is not configured", 500, StatusCode.FailedPrecondition);
    public static DaprError StateStoreNotFound(string name) => new("ERR_STATE_STORE_NOT_FOUND", $"state store {name} is not found", 400, StatusCode.InvalidArgument);
    public static DaprError Malformed(string problem) => new("ERR_MALFORMED_REQUEST", problem, 400, StatusCode.InvalidArgument);
    public static DaprError TooLarge(long limit) => new("ERR_MALFORMED_REQUEST", $"request body too large: the limit is {limit} bytes", 413, StatusCode.ResourceExhausted);
    public static DaprError StateGet(string key, string store, string problem) => new("ERR_STATE_GET", $"fail to get {key} from state store {store}: {problem}", 500, StatusCode.Internal);
    public static DaprError StateSave(string store, string problem) => new("ERR_STATE_SAVE", $"failed saving state in state store {store}: {problem}", 500, StatusCode.Internal);
    public static DaprError StateDelete(string key, string problem) => new("ERR_STATE_DELETE", $"failed deleting state with key {key}: {problem}", 500, StatusCode.Internal);
    public static DaprError StateTransaction(string problem) => new("ERR_STATE_TRANSACTION", $"error while executing state transaction: {problem}", 500, StatusCode.Internal);
    public static DaprError ETagMismatch(string code, string message) => new(code, message, 409, StatusCode.Aborted);
    public static DaprError ETagInvalid(string code, string message) => new(code, message, 400, StatusCode.InvalidArgument);
    public static DaprError SecretStoresNotConfigured() => new("ERR_SECRET_STORES_NOT_CONFIGURED", "secret store is not configured", 500, StatusCode.FailedPrecondition);
    public static DaprError SecretStoreNotFound(string name) => new("ERR_SECRET_STORE_NOT_FOUND", $"failed finding secret store with key {name}", 401, StatusCode.InvalidArgument);
    public static DaprError PubsubNotConfigured() => new("ERR_PUBSUB_NOT_CONFIGURED", "no pubsub is configured", 400, StatusCode.FailedPrecondition);
    public static DaprError PubsubEmpty() => new("ERR_PUBSUB_EMPTY", "pubsub name is empty", 404, StatusCode.InvalidArgument);
    public static DaprError PubsubNotFound(string name) => new("ERR_PUBSUB_NOT_FOUND", $"pubsub {name} not found", 404, StatusCode.InvalidArgument);
    public static DaprError TopicEmpty(string pubsub) => new("ERR_TOPIC_NAME_EMPTY", $"topic is empty in pubsub {pubsub}", 404, StatusCode.InvalidArgument);
    public static DaprError CloudEventsSer(string topic, string pubsub, string problem) => new("ERR_PUBSUB_CLOUD_EVENTS_SER", $"error when marshalling cloud event envelope for topic {topic} pubsub {pubsub}: {problem}", 400, StatusCode.InvalidArgument);
    public static DaprError Publish(string topic, string pubsub, string problem) => new("ERR_PUBSUB_PUBLISH_MESSAGE", $"error when publish to topic {topic} in pubsub {pubsub}: {problem}", 500, StatusCode.Internal);
    public static DaprError DirectInvoke(string appId, string problem) => new("ERR_DIRECT_INVOKE", $"fail to invoke, id: {appId}, err: {problem}", 500, StatusCode.Internal);
    public static DaprError Unauthorized() => new("ERR_UNAUTHORIZED", "authentication error: api token mismatch", 401, StatusCode.Unauthenticated);
    public static DaprError NotReady() => new("ERR_HEALTH_NOT_READY", "dapr is not ready", 500, StatusCode.Unavailable);
}
