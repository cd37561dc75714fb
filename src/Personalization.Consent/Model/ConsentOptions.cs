using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Personalization.Contracts;

namespace Personalization.Consent.Model;

/// <summary>What a purpose means while a user has said nothing about it.</summary>
public enum ConsentDefault
{
    /// <summary>Denied until the user grants it.</summary>
    OptIn,

    /// <summary>Granted until the user revokes it.</summary>
    OptOut,
}

/// <summary>
/// Bound from the <c>Consent</c> section. Which purposes an event needs, and what each purpose means by default.
/// <list type="bullet">
/// <item><c>Consent:Defaults:{purpose}</c> = <c>OptIn</c> | <c>OptOut</c>. A purpose with no entry is opt-in.</item>
/// <item><c>Consent:TypePurposes:{type}</c> = purposes an event of that Segment type needs (track, page, …).
/// A type with no entry needs <see cref="Purposes.Analytics"/>.</item>
/// <item><c>Consent:EventPurposes:{track event name}</c> = purposes that named track event needs instead.</item>
/// </list>
/// </summary>
public sealed class ConsentOptions
{
    public const string SectionName = "Consent";

    public Dictionary<string, ConsentDefault> Defaults { get; set; } = new(StringComparer.Ordinal)
    {
        [Purposes.Analytics] = ConsentDefault.OptOut,
        [Purposes.Personalization] = ConsentDefault.OptOut,
        [Purposes.Marketing] = ConsentDefault.OptIn,
    };

    public Dictionary<string, string[]> TypePurposes { get; set; } = new(StringComparer.Ordinal);

    public Dictionary<string, string[]> EventPurposes { get; set; } = new(StringComparer.Ordinal);
}

public sealed partial class ConsentOptionsValidator : IValidateOptions<ConsentOptions>
{
    [GeneratedRegex("^[a-z][a-z0-9_-]{0,63}$")]
    public static partial Regex PurposeName();

    public ValidateOptionsResult Validate(string? name, ConsentOptions options)
    {
        var failures = new List<string>();
        foreach (var (purpose, value) in options.Defaults)
        {
            if (!PurposeName().IsMatch(purpose)) failures.Add($"Consent:Defaults: '{purpose}' is not a purpose name (lowercase letters, digits, '_' or '-')");
            if (!Enum.IsDefined(value)) failures.Add($"Consent:Defaults:{purpose}: '{value}' is neither OptIn nor OptOut");
        }
        Check("Consent:TypePurposes", options.TypePurposes, failures);
        Check("Consent:EventPurposes", options.EventPurposes, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Check(string section, Dictionary<string, string[]> map, List<string> failures)
    {
        foreach (var (key, purposes) in map)
        {
            if (purposes is not { Length: > 0 }) failures.Add($"{section}:{key}: names no purpose");
            else
            {
                foreach (var purpose in purposes)
                {
                    if (!PurposeName().IsMatch(purpose ?? "")) failures.Add($"{section}:{key}: '{purpose}' is not a purpose name");
                }
            }
        }
    }
}
