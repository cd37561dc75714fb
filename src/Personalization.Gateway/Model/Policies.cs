namespace Personalization.Gateway.Model;

/// <summary>Authorization policies the routes in configuration name, and the key kinds each admits.</summary>
public static class Policies
{
    public const string WriteKey = "write-key";
    public const string ReadKey = "read-key";
    public const string WriteOrAdminKey = "write-or-admin-key";
    public const string AdminKey = "admin-key";
    /// <summary>A read or admin key, or a user token (<see cref="KeyKind.User"/>): the routes a browser may call for its own user.</summary>
    public const string ReadKeyOrUserToken = "read-key-or-user-token";

    public static readonly IReadOnlyDictionary<string, KeyKind[]> Admitted = new Dictionary<string, KeyKind[]>
    {
        [WriteKey] = [KeyKind.Write],
        [ReadKey] = [KeyKind.Read, KeyKind.Admin],
        [WriteOrAdminKey] = [KeyKind.Write, KeyKind.Admin],
        [AdminKey] = [KeyKind.Admin],
        [ReadKeyOrUserToken] = [KeyKind.Read, KeyKind.Admin, KeyKind.User],
    };

    /// <summary>What a 403 says a route needs, e.g. "a read or admin key", "a read or admin key, or a user token".</summary>
    public static string Describe(string? policy)
    {
        if (policy is null || !Admitted.TryGetValue(policy, out var kinds)) return "a different kind of key";
        var keys = "a " + string.Join(" or ", kinds.Where(k => k != KeyKind.User).Select(k => k.ToString().ToLowerInvariant())) + " key";
        return kinds.Contains(KeyKind.User) ? keys + ", or a user token" : keys;
    }
}
