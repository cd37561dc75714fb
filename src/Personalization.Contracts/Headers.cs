namespace Personalization.Contracts;

/// <summary>Headers the gateway sets on what it forwards (a client's own are dropped first), which services behind it trust.</summary>
public static class GatewayHeaders
{
    /// <summary>
    /// The user a request's user token was minted for; absent when the request came with an API key. A service answers
    /// such a request only for that user (403 otherwise).
    /// </summary>
    public const string TokenUser = "X-Token-User";
}
