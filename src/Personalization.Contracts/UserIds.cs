namespace Personalization.Contracts;

/// <summary>What a user id must be wherever a request names one: it becomes part of state keys.</summary>
public static class UserIds
{
    public const int MaxLength = 256;

    /// <summary>Why <paramref name="userId"/> cannot be used ("is required", …), or null when it can.</summary>
    public static string? Problem(string? userId)
    {
        if (string.IsNullOrWhiteSpace(userId)) return "is required";
        if (userId.Length > MaxLength) return $"is longer than {MaxLength} characters";
        if (userId.Contains(StateKeys.Separator, StringComparison.Ordinal)) return $"must not contain '{StateKeys.Separator}'";
        return userId.Any(char.IsControl) ? "contains a control character" : null;
    }
}
