using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Pointer;
using Json.Schema;
using Personalization.Contracts;
using Personalization.Streaming;

namespace Personalization.Collector.Model;

/// <summary>
/// A tracking plan's JSON Schema (JsonSchema.Net), built once and evaluated per event. Building refuses what is not
/// valid JSON Schema (an unknown keyword, a keyword of the wrong type, a pattern that is no regular expression) and any
/// <c>$ref</c> that does not point inside the schema itself (<c>#</c>, <c>#/…</c> or <c>#anchor</c>): plans never
/// fetch anything. <c>format</c> is asserted (an <c>"email"</c> that is none is a violation).
/// </summary>
public sealed class PlanSchema
{
    /// <summary>At most this many violations are reported per event: enough to fix it, bounded for a hostile payload.</summary>
    public const int MaxViolations = 20;

    private static readonly EvaluationOptions Flag = new() { OutputFormat = OutputFormat.Flag, RequireFormatValidation = true };
    private static readonly EvaluationOptions List = new() { OutputFormat = OutputFormat.List, RequireFormatValidation = true };
    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    private readonly JsonSchema _schema;

    private PlanSchema(JsonSchema schema) => _schema = schema;

    /// <summary>The built schema, or null with the error as a field of the request (<c>schema</c>, or <c>schema/…/$ref</c>).</summary>
    public static PlanSchema? Compile(JsonObject schema, out Streaming.FieldError? error)
    {
        error = null;
        if (FindForeignReference(schema, schema, "schema") is { } reference)
        {
            error = reference;
            return null;
        }
        try
        {
            var registry = new SchemaRegistry { Fetch = static (_, _) => null };
            var element = JsonSerializer.SerializeToElement(schema, CollectorJsonContext.Default.JsonObject);
            return new PlanSchema(JsonSchema.Build(element, new BuildOptions { SchemaRegistry = registry }));
        }
        // Whatever the library throws while building is about the schema the client sent: its keyword types, values,
        // patterns (JsonSchemaException, JsonException, ArgumentException and the regular expression's own).
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error = new Streaming.FieldError("schema", "is not valid JSON Schema: " + e.Message);
            return null;
        }
    }

    /// <summary>
    /// The violations of <paramref name="part"/> (an absent part is evaluated as <c>{}</c>, so <c>required</c> still
    /// applies); paths are JSON Pointers into the event (<paramref name="partName"/> first). Valid events cost one flag
    /// evaluation; only a failing one is evaluated again for its details.
    /// </summary>
    public IReadOnlyList<PlanViolation> Evaluate(JsonObject? part, string partName)
    {
        var buffer = part is null ? null : new ArrayBufferWriter<byte>(256);
        JsonDocument? document = null;
        try
        {
            var instance = EmptyObject;
            if (part is not null)
            {
                using (var writer = new Utf8JsonWriter(buffer!)) part.WriteTo(writer);
                document = JsonDocument.Parse(buffer!.WrittenMemory);
                instance = document.RootElement;
            }
            if (_schema.Evaluate(instance, Flag).IsValid) return [];
            var results = _schema.Evaluate(instance, List);
            var violations = new List<PlanViolation>();
            Collect(results, partName, violations);
            if (violations.Count == 0) violations.Add(new PlanViolation("/" + partName, "schema", "does not match the plan's schema", ""));
            return violations;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A schema that built but cannot evaluate (a reference the build did not follow): the event cannot be shown
            // to meet its plan, which is a violation to see, not a failed request.
            return [new PlanViolation("/" + partName, "schema", "the plan's schema could not be evaluated: " + e.Message, "")];
        }
        finally
        {
            document?.Dispose();
        }
    }

    private static void Collect(EvaluationResults results, string partName, List<PlanViolation> violations)
    {
        if (violations.Count >= MaxViolations) return;
        if (!results.IsValid && results.Errors is { Count: > 0 } errors)
        {
            var path = "/" + partName + results.InstanceLocation;
            var schemaPath = results.EvaluationPath.ToString();
            foreach (var (keyword, message) in errors)
            {
                if (violations.Count >= MaxViolations) return;
                // A false subschema (additionalProperties: false) reports no keyword: the rule is the one that applied it.
                var rule = keyword.Length > 0 ? keyword : LastSegment(results.EvaluationPath) ?? "false";
                violations.Add(new PlanViolation(path, rule, message, keyword.Length > 0 ? schemaPath + "/" + keyword : schemaPath));
            }
        }
        foreach (var detail in results.Details ?? []) Collect(detail, partName, violations);
    }

    private static string? LastSegment(JsonPointer pointer)
    {
        var text = pointer.ToString();
        var slash = text.LastIndexOf('/');
        return slash < 0 || slash == text.Length - 1 ? null : text[(slash + 1)..];
    }

    /// <summary>The first <c>$ref</c> or <c>$dynamicRef</c> that does not resolve inside <paramref name="root"/>.</summary>
    private static Streaming.FieldError? FindForeignReference(JsonObject root, JsonNode? node, string at)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    var here = at + "/" + key.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
                    // Values of these keywords are data, not schemas: a "$ref" inside them is no reference.
                    if (key is "const" or "enum" or "default" or "examples") continue;
                    if (key is "$ref" or "$dynamicRef" && value is JsonValue v && v.TryGetValue<string>(out var target))
                    {
                        if (!Resolves(root, target))
                        {
                            return new Streaming.FieldError(here, $"is not valid JSON Schema: '{target}' does not point inside the schema (use '#/…' or '#anchor'; plans never fetch other schemas)");
                        }
                        continue;
                    }
                    if (FindForeignReference(root, value, here) is { } found) return found;
                }
                return null;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (FindForeignReference(root, array[i], at + "/" + i) is { } found) return found;
                }
                return null;
            default:
                return null;
        }
    }

    private static bool Resolves(JsonObject root, string target)
    {
        if (target == "#") return true;
        if (target.StartsWith("#/", StringComparison.Ordinal))
        {
            JsonNode? current = root;
            foreach (var escaped in Uri.UnescapeDataString(target[2..]).Split('/'))
            {
                var segment = escaped.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
                current = current switch
                {
                    JsonObject o when o.TryGetPropertyValue(segment, out var next) => next,
                    JsonArray a when int.TryParse(segment, out var index) && index >= 0 && index < a.Count => a[index],
                    _ => null,
                };
                if (current is null) return false;
            }
            return current is JsonObject or JsonValue;
        }
        if (target.StartsWith('#') && target.Length > 1) return HasAnchor(root, target[1..]);
        return false;
    }

    private static bool HasAnchor(JsonNode? node, string anchor) => node switch
    {
        JsonObject o => o.Any(p => (p.Key is "$anchor" or "$dynamicAnchor" && p.Value is JsonValue v && v.TryGetValue<string>(out var a) && a == anchor)
            || (p.Key is not ("const" or "enum" or "default" or "examples") && HasAnchor(p.Value, anchor))),
        JsonArray array => array.Any(item => HasAnchor(item, anchor)),
        _ => false,
    };
}
