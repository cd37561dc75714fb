using Aspire.Hosting.ApplicationModel;

namespace Personalization.AppHost.Infrastructure;

/// <summary>Where a local server keeps its data: the supervisor names it when the server keeps failing at start.</summary>
public sealed record DataFolderAnnotation(string Path) : IResourceAnnotation;

/// <summary>
/// Checks of the local data folder made before anything starts, so a folder that cannot work stops the AppHost with
/// one line naming the fix instead of a server failing later among many log lines.
/// </summary>
public static class DataFolders
{
    /// <summary>The data folder exists (created if need be) and this user can write in it.</summary>
    public static void EnsureUsable(string data)
    {
        try
        {
            Directory.CreateDirectory(data);
            var probe = Path.Combine(data, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InfrastructureUnavailableException(
                $"The data folder '{data}' cannot be used ({e.Message.TrimEnd('.')}). Give it to this user " +
                $"(chown -R {Environment.UserName} '{data}') or choose another: Infrastructure__DataDirectory=<folder>.");
        }
    }

    /// <summary>
    /// PostgreSQL's folder is either absent (a first start creates it), or a cluster of the installed major version.
    /// A folder without PG_VERSION is what an interrupted first start leaves behind.
    /// </summary>
    public static void EnsurePostgresUsable(string postgresData, string postgresBin)
    {
        if (!Directory.Exists(postgresData) || !Directory.EnumerateFileSystemEntries(postgresData).Any())
        {
            return;
        }
        var reset = $"stop the platform and reset it (this deletes PostgreSQL's data: the consent ledger and records): rm -rf '{postgresData}'";
        var versionFile = Path.Combine(postgresData, "PG_VERSION");
        if (!File.Exists(versionFile))
        {
            throw new InfrastructureUnavailableException(
                $"PostgreSQL's data folder '{postgresData}' is damaged: it has no PG_VERSION (an interrupted first start?). To start afresh, {reset}");
        }
        var created = File.ReadAllText(versionFile).Trim();
        // Debian's layout names the major version: /usr/lib/postgresql/<major>/bin.
        var installed = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(postgresBin).TrimEnd('/')));
        if (int.TryParse(installed, out _) && created != installed)
        {
            throw new InfrastructureUnavailableException(
                $"PostgreSQL's data folder '{postgresData}' was created by PostgreSQL {created}; this machine runs {installed}. " +
                $"Upgrade it with pg_upgrade, or, to start afresh, {reset}");
        }
    }
}
