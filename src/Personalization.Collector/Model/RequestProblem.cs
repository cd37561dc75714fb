using System.Text.Json.Serialization;

namespace Personalization.Collector.Model;

/// <summary>What is wrong with one field of a request. <see cref="Index"/> is the event's position in a batch.</summary>
public sealed record FieldError(
    string Field,
    string Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Index = null);

/// <summary>The kinds of rejection, each with the stable problem <c>type</c> a client can branch on.</summary>
public enum ProblemKind
{
    InvalidJson,
    InvalidUtf8,
    InvalidEvent,
    EventTooLarge,
    BatchTooLarge,
    Unavailable,
    Overloaded,
}

/// <summary>Why a request was refused: a problem+json answer without any HTTP in it.</summary>
public sealed record RequestProblem(ProblemKind Kind, string Title, string Detail, IReadOnlyList<FieldError> Errors)
{
    private const string TypePrefix = "urn:personalization:problem:";

    public string Type => TypePrefix + Kind switch
    {
        ProblemKind.InvalidJson => "invalid-json",
        ProblemKind.InvalidUtf8 => "invalid-utf8",
        ProblemKind.InvalidEvent => "invalid-event",
        ProblemKind.EventTooLarge => "event-too-large",
        ProblemKind.BatchTooLarge => "batch-too-large",
        ProblemKind.Unavailable => "unavailable",
        ProblemKind.Overloaded => "overloaded",
        _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, null),
    };

    public int Status => Kind is ProblemKind.Unavailable or ProblemKind.Overloaded ? 503 : 400;

    /// <summary>The short tag metrics use for the kind.</summary>
    public string Reason => Type[TypePrefix.Length..];
}
