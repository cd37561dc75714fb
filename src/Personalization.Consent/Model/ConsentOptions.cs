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
/// <item><c>Consent:ProfilePurposes</c> = purposes every event needs besides, because it ends in a profile
/// (default <c>personalization</c>).</item>
/// <item><c>Consent:Signals:{gpc|dnt|do-not-sell}:{purpose}</c> = false: what an opt-out signal denies (Global Privacy
/// Control and Do Not Track on an ingestion request, the do-not-sell-or-share flag of a user).</item>
/// <item><c>Consent:PolicyVersion</c> = the version of the privacy policy in force, recorded with every ledger row.</item>
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

    public string[] ProfilePurposes { get; set; } = [Purposes.Personalization];

    public Dictionary<string, Dictionary<string, bool>> Signals { get; set; } = new(StringComparer.Ordinal);

    public string PolicyVersion { get; set; } = "1";
}

/// <summary>Names of the opt-out signals of <see cref="ConsentOptions.Signals"/>, as the ledger's source records them.</summary>
public static class SignalSources
{
    public const string Gpc = PrivacySignals.Gpc;
    public const string Dnt = PrivacySignals.Dnt;
    public const string DoNotSell = "do-not-sell";

    public static readonly string[] All = [Gpc, Dnt, DoNotSell];
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
        foreach (var purpose in options.ProfilePurposes ?? [])
        {
            if (!PurposeName().IsMatch(purpose ?? "")) failures.Add($"Consent:ProfilePurposes: '{purpose}' is not a purpose name");
        }
        foreach (var (signal, purposes) in options.Signals)
        {
            if (!SignalSources.All.Contains(signal)) failures.Add($"Consent:Signals: '{signal}' is not a signal; use {string.Join(", ", SignalSources.All)}");
            foreach (var (purpose, granted) in purposes)
            {
                if (!PurposeName().IsMatch(purpose)) failures.Add($"Consent:Signals:{signal}: '{purpose}' is not a purpose name");
                if (granted) failures.Add($"Consent:Signals:{signal}:{purpose}: a signal can only deny a purpose (false)");
            }
        }
        if (string.IsNullOrWhiteSpace(options.PolicyVersion) || options.PolicyVersion.Length > 64) failures.Add("Consent:PolicyVersion must be 1 to 64 characters");
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
