namespace Personalization.Gateway.Model;

/// <summary>Authorization policies the routes in configuration name, and the key kinds each admits.</summary>
public static class Policies
{
    public const string WriteKey = "write-key";
    public const string ReadKey = "read-key";
    public const string WriteOrAdminKey = "write-or-admin-key";
    public const string AdminKey = "admin-key";

    public static readonly IReadOnlyDictionary<string, KeyKind[]> Admitted = new Dictionary<string, KeyKind[]>
    {
        [WriteKey] = [KeyKind.Write],
        [ReadKey] = [KeyKind.Read, KeyKind.Admin],
        [WriteOrAdminKey] = [KeyKind.Write, KeyKind.Admin],
        [AdminKey] = [KeyKind.Admin],
    };

    /// <summary>What a 403 says a route needs, e.g. "a read or admin key".</summary>
    public static string Describe(string? policy) =>
        policy is not null && Admitted.TryGetValue(policy, out var kinds)
            ? "a " + string.Join(" or ", kinds.Select(k => k.ToString().ToLowerInvariant())) + " key"
            : "a different kind of key";
}
