using Npgsql;
using Personalization.Sidecar.State;

namespace Personalization.Sidecar.Tests;

public sealed class PostgresConnectionStringTests
{
    [Theory]
    [InlineData("host=127.0.0.1 port=5433 user=postgres password=s3cret dbname=personalization sslmode=disable")]
    [InlineData("postgres://postgres:s3cret@127.0.0.1:5433/personalization?sslmode=disable")]
    [InlineData("Host=127.0.0.1;Port=5433;Username=postgres;Password=s3cret;Database=personalization;SSL Mode=Disable")]
    public void PgxAndNpgsqlFormsMeanTheSameServer(string given)
    {
        var parsed = new NpgsqlConnectionStringBuilder(PostgresConnectionString.ToNpgsql(given));

        Assert.Equal("127.0.0.1", parsed.Host);
        Assert.Equal(5433, parsed.Port);
        Assert.Equal("postgres", parsed.Username);
        Assert.Equal("s3cret", parsed.Password);
        Assert.Equal("personalization", parsed.Database);
        Assert.Equal(SslMode.Disable, parsed.SslMode);
    }

    [Fact]
    public void AnUnknownSslModeIsRejectedNamingIt()
    {
        var error = Assert.Throws<FormatException>(() => PostgresConnectionString.ToNpgsql("host=x sslmode=sometimes"));
        Assert.Contains("sometimes", error.Message);
    }
}
