using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Personalization.Sidecar.Components;

/// <summary>A resource file the sidecar cannot start with; the message names the file and the problem.</summary>
public sealed class ResourceException(string message) : Exception(message);

/// <summary>One YAML document of kind Component, Subscription, Resiliency or Configuration.</summary>
public sealed record ResourceDocument(
    string Kind, string ApiVersion, string Name, YamlMap Spec, YamlMap? Auth, IReadOnlyList<string> Scopes, string Source)
{
    public bool AppliesTo(string appId) => Scopes.Count == 0 || Scopes.Contains(appId);
}

/// <summary>Read access to an untyped YAML mapping with error messages that say where a value was expected.</summary>
public sealed class YamlMap(IReadOnlyDictionary<string, object?> values, string where)
{
    public static readonly YamlMap Empty = new(new Dictionary<string, object?>(), "");
    public string Where => where;
    public IEnumerable<string> Keys => values.Keys;

    public string? String(string key) => values.GetValueOrDefault(key) switch
    {
        null => null,
        string s => s,
        var other => throw new ResourceException($"{where}: '{key}' must be a single value, not {Describe(other)}"),
    };

    public YamlMap? Map(string key) => values.GetValueOrDefault(key) switch
    {
        null => null,
        IReadOnlyDictionary<string, object?> m => new YamlMap(m, $"{where}.{key}"),
        var other => throw new ResourceException($"{where}: '{key}' must be a mapping, not {Describe(other)}"),
    };

    public IReadOnlyList<object?> List(string key) => values.GetValueOrDefault(key) switch
    {
        null => [],
        IReadOnlyList<object?> l => l,
        var other => throw new ResourceException($"{where}: '{key}' must be a list, not {Describe(other)}"),
    };

    public IEnumerable<YamlMap> Maps(string key) => List(key).Select((item, i) => item is IReadOnlyDictionary<string, object?> m
        ? new YamlMap(m, $"{where}.{key}[{i}]")
        : throw new ResourceException($"{where}: '{key}[{i}]' must be a mapping"));

    public IReadOnlyList<string> Strings(string key) => List(key).Select((item, i) => item as string
        ?? throw new ResourceException($"{where}: '{key}[{i}]' must be a single value")).ToList();

    public bool Bool(string key, bool fallback) => String(key) is { } s
        ? bool.TryParse(s, out var b) ? b : throw new ResourceException($"{where}: '{key}' must be true or false, not '{s}'")
        : fallback;

    public int Int(string key, int fallback) => String(key) is { } s
        ? int.TryParse(s, out var n) ? n : throw new ResourceException($"{where}: '{key}' must be a whole number, not '{s}'")
        : fallback;

    public TimeSpan? Duration(string key) => String(key) is { } s
        ? GoDuration.TryParse(s, out var d) ? d : throw new ResourceException($"{where}: '{key}' must be a duration like 5s or 500ms, not '{s}'")
        : null;

    private static string Describe(object value) => value is IReadOnlyList<object?> ? "a list" : "a mapping";
}

/// <summary>Loads every *.yaml / *.yml file of each resources path (not recursive, as daprd), plus the --config file.</summary>
public static class ResourceLoader
{
    private static readonly IDeserializer Yaml = new DeserializerBuilder().Build();

    public static IReadOnlyList<ResourceDocument> LoadDirectories(IEnumerable<string> paths)
    {
        var documents = new List<ResourceDocument>();
        foreach (var path in paths)
        {
            if (!Directory.Exists(path)) throw new ResourceException($"resources path '{path}' does not exist");
            var files = Directory.EnumerateFiles(path)
                .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal);
            foreach (var file in files) documents.AddRange(Parse(File.ReadAllText(file), file));
        }
        return documents;
    }

    public static IReadOnlyList<ResourceDocument> LoadFile(string file) =>
        File.Exists(file) ? Parse(File.ReadAllText(file), file) : throw new ResourceException($"config file '{file}' does not exist");

    /// <summary>Parses the documents of one file; documents of kinds the sidecar does not know are an error.</summary>
    public static IReadOnlyList<ResourceDocument> Parse(string text, string source)
    {
        var documents = new List<ResourceDocument>();
        try
        {
            var parser = new Parser(new StringReader(text));
            parser.Consume<StreamStart>();
            var index = 0;
            while (parser.Accept<DocumentStart>(out _))
            {
                var raw = Normalize(Yaml.Deserialize<object?>(parser));
                index++;
                if (raw is null) continue;
                if (raw is not IReadOnlyDictionary<string, object?> root)
                    throw new ResourceException($"{source}: document {index} is not a mapping");
                documents.Add(ToDocument(new YamlMap(root, $"{source}"), source));
            }
        }
        catch (YamlException e)
        {
            throw new ResourceException($"{source}: malformed YAML at line {e.Start.Line}, column {e.Start.Column}: {e.Message}");
        }
        return documents;
    }

    private static ResourceDocument ToDocument(YamlMap root, string source)
    {
        var kind = root.String("kind") ?? throw new ResourceException($"{source}: 'kind' is missing");
        if (kind is not ("Component" or "Subscription" or "Resiliency" or "Configuration"))
            throw new ResourceException($"{source}: kind '{kind}' is not supported (Component, Subscription, Resiliency, Configuration)");
        var apiVersion = root.String("apiVersion") ?? throw new ResourceException($"{source}: 'apiVersion' is missing");
        var name = root.Map("metadata")?.String("name") ?? throw new ResourceException($"{source}: {kind} has no 'metadata.name'");
        var spec = root.Map("spec") ?? throw new ResourceException($"{source}: {kind} '{name}' has no 'spec'");
        return new ResourceDocument(kind, apiVersion, name, spec, root.Map("auth"), root.Strings("scopes"), source);
    }

    /// <summary>YamlDotNet gives Dictionary&lt;object, object&gt; and List&lt;object&gt;; turn keys into strings.</summary>
    private static object? Normalize(object? node) => node switch
    {
        IDictionary<object, object?> map => map.ToDictionary(kv => Convert.ToString(kv.Key, System.Globalization.CultureInfo.InvariantCulture) ?? "", kv => Normalize(kv.Value))
            as IReadOnlyDictionary<string, object?>,
        IList<object?> list => list.Select(Normalize).ToList() as IReadOnlyList<object?>,
        null => null,
        var scalar => Convert.ToString(scalar, System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>Go's time.ParseDuration for the units Dapr's YAML uses: h, m, s, ms, us, ns (e.g. 1m30s, 500ms).</summary>
public static class GoDuration
{
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var s = text.Trim();
        if (s is "0") return true;
        if (s.Length == 0) return false;
        var totalTicks = 0.0;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (start == i || !double.TryParse(s[start..i], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var number)) return false;
            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i])) i++;
            double? ticksPerUnit = s[unitStart..i] switch
            {
                "h" => TimeSpan.TicksPerHour, "m" => TimeSpan.TicksPerMinute, "s" => TimeSpan.TicksPerSecond,
                "ms" => TimeSpan.TicksPerMillisecond, "us" or "µs" => 10, "ns" => 0.01, _ => null,
            };
            if (ticksPerUnit is null) return false;
            totalTicks += number * ticksPerUnit.Value;
        }
        duration = TimeSpan.FromTicks((long)totalTicks);
        return true;
    }
}
