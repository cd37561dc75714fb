using System.Text;
using System.Text.Json;

namespace Personalization.Sidecar.Subscriptions;

/// <summary>A route's <c>match</c> expression that is outside the supported CEL subset.</summary>
public sealed class CelException(string message) : Exception(message);

/// <summary>
/// The CEL subset a route's <c>match</c> may use, evaluated against the CloudEvent:
/// <list type="bullet">
/// <item><c>event.&lt;field&gt;</c>, also nested (<c>event.data.kind</c>): the field's value (strings as is, numbers and
/// booleans as their JSON text; a missing field equals no string);</item>
/// <item>string literals in double or single quotes, with \" \' \\ \n \t escapes;</item>
/// <item><c>==</c> and <c>!=</c> between two of the above, combined with <c>&amp;&amp;</c>, <c>||</c> and parentheses.</item>
/// </list>
/// Anything else (other operators, functions, numbers, <c>!</c>, <c>in</c>, …) is rejected when the subscription loads, so a
/// route is never silently mis-evaluated.
/// </summary>
public sealed class CelExpression
{
    private readonly Node _root;
    private CelExpression(Node root) => _root = root;

    public static CelExpression Parse(string text)
    {
        var parser = new Parser(text);
        var root = parser.ParseOr();
        parser.ExpectEnd();
        return new CelExpression(root);
    }

    public bool Evaluate(JsonElement cloudEvent) => _root.IsTrue(cloudEvent);

    private abstract record Node
    {
        public virtual bool IsTrue(JsonElement e) => throw new CelException("not a condition");
        public virtual string? Value(JsonElement e) => throw new CelException("not a value");
    }

    private sealed record Or(Node Left, Node Right) : Node { public override bool IsTrue(JsonElement e) => Left.IsTrue(e) || Right.IsTrue(e); }
    private sealed record And(Node Left, Node Right) : Node { public override bool IsTrue(JsonElement e) => Left.IsTrue(e) && Right.IsTrue(e); }
    private sealed record Compare(Node Left, Node Right, bool Equal) : Node
    {
        public override bool IsTrue(JsonElement e) => string.Equals(Left.Value(e), Right.Value(e), StringComparison.Ordinal) == Equal;
    }
    private sealed record Literal(string Text) : Node { public override string? Value(JsonElement e) => Text; }
    private sealed record Field(IReadOnlyList<string> Path) : Node
    {
        public override string? Value(JsonElement e)
        {
            foreach (var name in Path)
            {
                if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out e)) return null;
            }
            return e.ValueKind switch
            {
                JsonValueKind.String => e.GetString(),
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
                _ => null,
            };
        }
    }

    private sealed class Parser(string text)
    {
        private int _pos;

        public Node ParseOr()
        {
            var left = ParseAnd();
            while (Take("||")) left = new Or(left, ParseAnd());
            return left;
        }

        private Node ParseAnd()
        {
            var left = ParseCondition();
            while (Take("&&")) left = new And(left, ParseCondition());
            return left;
        }

        private Node ParseCondition()
        {
            if (Take("("))
            {
                var inner = ParseOr();
                if (!Take(")")) throw Error("expected ')'");
                return inner;
            }
            var left = ParseOperand();
            if (Take("==")) return new Compare(left, ParseOperand(), true);
            if (Take("!=")) return new Compare(left, ParseOperand(), false);
            throw Error("expected '==' or '!=' after a value");
        }

        private Node ParseOperand()
        {
            SkipSpaces();
            if (_pos < text.Length && text[_pos] is '"' or '\'') return new Literal(ReadString());
            var start = _pos;
            while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] is '_' or '.')) _pos++;
            var word = text[start.._pos];
            if (word.Length == 0) throw Error("expected event.<field> or a string literal");
            var parts = word.Split('.');
            if (parts[0] != "event" || parts.Length < 2 || parts.Skip(1).Any(p => p.Length == 0 || char.IsAsciiDigit(p[0])))
            {
                _pos = start;
                throw Error($"'{word}' is not supported (only event.<field> and string literals)");
            }
            return new Field(parts[1..]);
        }

        private string ReadString()
        {
            var quote = text[_pos++];
            var result = new StringBuilder();
            while (_pos < text.Length && text[_pos] != quote)
            {
                var c = text[_pos++];
                if (c == '\\')
                {
                    if (_pos >= text.Length) break;
                    var escaped = text[_pos++];
                    result.Append(escaped switch
                    {
                        'n' => '\n', 't' => '\t', '\\' => '\\', '"' => '"', '\'' => '\'',
                        _ => throw Error($"escape '\\{escaped}' is not supported"),
                    });
                }
                else result.Append(c);
            }
            if (_pos >= text.Length) throw Error("unterminated string literal");
            _pos++;
            return result.ToString();
        }

        private bool Take(string token)
        {
            SkipSpaces();
            if (string.CompareOrdinal(text, _pos, token, 0, token.Length) != 0) return false;
            _pos += token.Length;
            return true;
        }

        public void ExpectEnd()
        {
            SkipSpaces();
            if (_pos != text.Length) throw Error("unexpected text");
        }

        private void SkipSpaces()
        {
            while (_pos < text.Length && char.IsWhiteSpace(text[_pos])) _pos++;
        }

        private CelException Error(string problem) =>
            new($"match expression '{text}': {problem} at position {_pos + 1}; supported: event.<field>, string literals, ==, !=, &&, ||, parentheses");
    }
}
