namespace Personalization.EndToEndTests;

/// <summary>Fails early, with the install command, when the machine lacks a server binary the tests need.</summary>
internal static class Prerequisites
{
    private const string Install = "apt-get update && apt-get install -y redis-server rabbitmq-server postgresql (or run ./test.sh, which installs them)";

    public static void EnsureLocalServersInstalled()
    {
        string[] required = ["/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/bin/epmd"];
        var missing = required.Where(path => !File.Exists(path)).ToList();
        if (!OnPath("redis-server"))
        {
            missing.Add("redis-server");
        }
        if (!Directory.Exists("/usr/lib/postgresql") && !OnPath("postgres"))
        {
            missing.Add("postgres");
        }
        if (missing.Count > 0)
        {
            throw new InvalidOperationException($"Missing {string.Join(", ", missing)}. Install with: {Install}");
        }
    }

    private static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(folder => File.Exists(Path.Combine(folder, name)));
}
