namespace Personalization.Gateway.Model;

/// <summary>The <c>X-Request-Id</c> every request carries through the platform.</summary>
public static class CorrelationId
{
    public const string Header = "X-Request-Id";
    public const int MaxLength = 128;

    /// <summary>A client's id is kept when it is short and plain (letters, digits, <c>-_.:</c>), else replaced.</summary>
    public static bool IsAcceptable(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            return false;
        }
        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
            {
                return false;
            }
        }
        return true;
    }

    public static string Resolve(string? presented) => IsAcceptable(presented) ? presented! : Guid.CreateVersion7().ToString("N");
}
