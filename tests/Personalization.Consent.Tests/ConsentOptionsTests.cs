using Personalization.Consent.Model;

namespace Personalization.Consent.Tests;

public sealed class ConsentOptionsTests
{
    private static readonly ConsentOptionsValidator Validator = new();

    [Fact]
    public void DefaultOptionsAreValid() => Assert.True(Validator.Validate(null, new ConsentOptions()).Succeeded);

    [Fact]
    public void MappingToAnInvalidPurposeNameFailsValidation()
    {
        var options = new ConsentOptions();
        options.EventPurposes["Clicked"] = ["Not A Purpose"];
        var result = Validator.Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains("Consent:EventPurposes:Clicked", result.FailureMessage);
    }

    [Fact]
    public void MappingToNoPurposeFailsValidation()
    {
        var options = new ConsentOptions();
        options.TypePurposes["track"] = [];
        Assert.True(Validator.Validate(null, options).Failed);
    }

    [Fact]
    public void UndefinedDefaultFailsValidation()
    {
        var options = new ConsentOptions();
        options.Defaults["analytics"] = (ConsentDefault)7;
        Assert.True(Validator.Validate(null, options).Failed);
    }

    [Fact]
    public void ASignalThatGrantsOrIsUnknownFailsValidationNamingIt()
    {
        var options = new ConsentOptions();
        options.Signals["gpc"] = new() { ["marketing"] = true };
        options.Signals["beacon"] = new() { ["marketing"] = false };
        var failures = Validator.Validate(null, options).Failures!.ToList();
        Assert.Contains(failures, f => f.Contains("Consent:Signals:gpc:marketing"));
        Assert.Contains(failures, f => f.Contains("'beacon'"));
    }
}
