using Npgsql;

namespace Personalization.Sidecar.State;

/// <summary>
/// daprd's PostgreSQL components take pgx connection strings: a URL (<c>postgres://user:pass@host:port/db?sslmode=disable</c>)
/// or space-separated <c>key=value</c> pairs (<c>host=… port=… user=… password=… dbname=…</c>). One component YAML must
/// work with both sidecars, so those forms are translated to Npgsql's; an Npgsql string (with ';') passes unchanged.
/// </summary>
public static class PostgresConnectionString
{
    public static string ToNpgsql(string connectionString)
    {
        var text = connectionString.Trim();
        if (text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            return FromUrl(new Uri(text));
        }
        if (text.Contains(';') || !text.Contains('='))
        {
            return text;
        }
        var builder = new NpgsqlConnectionStringBuilder();
        foreach (var pair in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=');
            if (equals <= 0)
            {
                throw new FormatException($"'{pair}' is not key=value");
            }
            Apply(builder, pair[..equals].ToLowerInvariant(), pair[(equals + 1)..].Trim('\''));
        }
        return builder.ConnectionString;
    }

    private static string FromUrl(Uri url)
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = url.Host };
        if (url.Port > 0) builder.Port = url.Port;
        var user = url.UserInfo.Split(':', 2);
        if (user[0].Length > 0) builder.Username = Uri.UnescapeDataString(user[0]);
        if (user.Length > 1) builder.Password = Uri.UnescapeDataString(user[1]);
        var database = url.AbsolutePath.Trim('/');
        if (database.Length > 0) builder.Database = Uri.UnescapeDataString(database);
        foreach (var pair in url.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2);
            Apply(builder, parts[0].ToLowerInvariant(), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
        }
        return builder.ConnectionString;
    }

    private static void Apply(NpgsqlConnectionStringBuilder builder, string key, string value)
    {
        switch (key)
        {
            case "host": builder.Host = value; break;
            case "port": builder.Port = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "user": builder.Username = value; break;
            case "password": builder.Password = value; break;
            case "dbname" or "database": builder.Database = value; break;
            case "sslmode": builder.SslMode = value switch
            {
                "disable" => SslMode.Disable,
                "allow" => SslMode.Allow,
                "prefer" => SslMode.Prefer,
                "require" => SslMode.Require,
                "verify-ca" => SslMode.VerifyCA,
                "verify-full" => SslMode.VerifyFull,
                _ => throw new FormatException($"sslmode '{value}' is not one of disable, allow, prefer, require, verify-ca, verify-full"),
            }; break;
            case "connect_timeout": builder.Timeout = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "pool_max_conns": builder.MaxPoolSize = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "application_name": builder.ApplicationName = value; break;
            default: break; // pgx-only pool tuning (pool_min_conns, pool_max_conn_lifetime, …) has no Npgsql twin worth mapping.
        }
    }
}
