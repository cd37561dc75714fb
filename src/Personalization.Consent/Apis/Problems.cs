using Microsoft.AspNetCore.Http.HttpResults;
using Personalization.Consent.Model;

namespace Personalization.Consent.Apis;

/// <summary>The problem+json answers the consent service's APIs share.</summary>
public static class Problems
{
    public static ProblemHttpResult Invalid(FieldError error) => TypedResults.Problem(
        detail: $"{error.Field}: {error.Detail}",
        statusCode: StatusCodes.Status400BadRequest,
        title: "Invalid request",
        type: ConsentApi.InvalidRequestType,
        extensions: new Dictionary<string, object?> { ["field"] = error.Field });
}
