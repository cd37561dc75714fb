using StackExchange.Redis;

namespace Personalization.Sidecar.State;

/// <summary>
/// <c>state.redis</c> v1 with Dapr's storage layout: each key is a HASH with fields <c>data</c> (the value bytes),
/// <c>version</c> (an integer bumped with HINCRBY on every write; it is the ETag) and <c>first-write</c> (0 when written
/// with first-write concurrency). Writes and deletes run as Lua scripts so the ETag check and the change are atomic;
/// the script semantics follow components-contrib's state/redis (the sidecar and daprd read each other's data).
/// </summary>
public sealed class RedisStateStore : IStateStore
{
    // ARGV[1] = expected version ("0" = none given), ARGV[2] = data, ARGV[3] = "0" for first-write concurrency.
    // A key holding something other than a hash is replaced. Without an ETag a write succeeds unless the key was
    // written with first-write concurrency; with one it succeeds when the stored version equals it or nothing is stored.
    private const string SetScript = """
        local stored = redis.pcall("HGET", KEYS[1], "version")
        if type(stored) == "table" then redis.call("DEL", KEYS[1]); stored = false end
        local firstWrite = redis.pcall("HGET", KEYS[1], "first-write")
        local allowed = (not stored) or stored == "" or stored == ARGV[1] or ((not firstWrite) and ARGV[1] == "0")
        if not allowed then return redis.error_reply("etag mismatch for " .. KEYS[1]) end
        redis.call("HSET", KEYS[1], "data", ARGV[2])
        if ARGV[3] == "0" then redis.call("HSET", KEYS[1], "first-write", 0) end
        return redis.call("HINCRBY", KEYS[1], "version", 1)
        """;

    // ARGV[1] = expected version, "0" = none given (then the delete always succeeds).
    private const string DeleteScript = """
        local stored = redis.pcall("HGET", KEYS[1], "version")
        if (not stored) or type(stored) == "table" or stored == "" or stored == ARGV[1] or ARGV[1] == "0" then
          return redis.call("DEL", KEYS[1])
        end
        return redis.error_reply("etag mismatch for " .. KEYS[1])
        """;

    private static readonly RedisValue[] HashFields = ["data", "version"];
    private readonly ConnectionMultiplexer _redis;
    private readonly int? _defaultTtl;

    private RedisStateStore(string name, ConnectionMultiplexer redis, int? defaultTtl) =>
        (Name, _redis, _defaultTtl) = (name, redis, defaultTtl);

    public string Name { get; }

    /// <summary>Connects using Dapr's metadata: redisHost (host:port), redisPassword, redisUsername, redisDB, enableTLS, ttlInSeconds.</summary>
    public static async Task<RedisStateStore> ConnectAsync(Components.ComponentDefinition component)
    {
        var host = component.Get("redisHost");
        if (host.Length == 0) throw new Components.ResourceException($"component '{component.Name}': metadata 'redisHost' is required");
        var options = ConfigurationOptions.Parse(host);
        options.Password = component.Get("redisPassword", options.Password ?? "");
        if (component.Get("redisUsername") is { Length: > 0 } user) options.User = user;
        options.DefaultDatabase = component.GetInt("redisDB", 0);
        options.Ssl = component.GetBool("enableTLS", false);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = (int)component.InitTimeout.TotalMilliseconds;
        var ttl = component.Get("ttlInSeconds") is { Length: > 0 } t ? int.Parse(t, System.Globalization.CultureInfo.InvariantCulture) : (int?)null;
        return new RedisStateStore(component.Name, await ConnectionMultiplexer.ConnectAsync(options), ttl);
    }

    private IDatabase Db => _redis.GetDatabase();

    public async Task<StateEntry?> GetAsync(string key, CancellationToken ct) => ToEntry(await Db.HashGetAsync(key, HashFields));

    public async Task<IReadOnlyList<StateEntry?>> GetBulkAsync(IReadOnlyList<string> keys, CancellationToken ct)
    {
        var batch = Db.CreateBatch();
        var reads = keys.Select(k => batch.HashGetAsync(k, HashFields)).ToArray();
        batch.Execute();
        var results = await Task.WhenAll(reads);
        return results.Select(ToEntry).ToList();
    }

    private static StateEntry? ToEntry(RedisValue[] fields) =>
        fields[0].IsNull || fields[1].IsNull ? null : new StateEntry((byte[])fields[0]!, (string)fields[1]!);

    public async Task SetAsync(StateSet request, CancellationToken ct)
    {
        var (version, firstWrite, ttl) = Prepare(request);
        try
        {
            await Db.ScriptEvaluateAsync(SetScript, [request.Key], [version, request.Value, firstWrite]);
        }
        catch (RedisServerException) when (version != "0")
        {
            throw new ETagMismatchException(request.Key);
        }
        if (ttl > 0) await Db.KeyExpireAsync(request.Key, TimeSpan.FromSeconds(ttl.Value));
        else if (ttl <= 0) await Db.KeyPersistAsync(request.Key);
    }

    public async Task DeleteAsync(StateDelete request, CancellationToken ct)
    {
        var version = Version(request.Key, request.ETag, request.Concurrency);
        try
        {
            await Db.ScriptEvaluateAsync(DeleteScript, [request.Key], [version]);
        }
        catch (RedisServerException)
        {
            throw new ETagMismatchException(request.Key);
        }
    }

    /// <summary>
    /// MULTI/EXEC of what the scripts do. Redis runs every command of a transaction even when one fails, so nothing may be
    /// left to refuse inside it: each operation a script could refuse gets a WATCH condition that holds exactly when the
    /// script accepts, and a condition that fails aborts the whole EXEC (an ETag mismatch, nothing applied).
    /// </summary>
    public async Task TransactAsync(IReadOnlyList<object> operations, CancellationToken ct)
    {
        var transaction = Db.CreateTransaction();

        // The stored versions of the etag-guarded keys, read in one round trip: a transaction of hundreds of keys
        // must not pay one awaited read per key.
        List<(string Key, string Version, Task<RedisValue> Stored)>? guarded = null;
        var reads = Db.CreateBatch();
        foreach (var op in operations)
        {
            var (key, etag, concurrency) = op switch
            {
                StateSet s => (s.Key, s.ETag, s.Concurrency),
                StateDelete d => (d.Key, d.ETag, d.Concurrency),
                _ => throw new ArgumentException("unknown operation"),
            };
            var version = Version(key, etag, concurrency);
            if (version != "0")
            {
                (guarded ??= []).Add((key, version, reads.HashGetAsync(key, "version")));
            }
            else if (op is StateSet)
            {
                // Without an ETag the set script refuses only a key written under first-write concurrency (whatever
                // this write's own concurrency): that marker must still be absent when EXEC runs.
                transaction.AddCondition(Condition.HashNotExists(key, "first-write"));
            }
        }
        if (guarded is not null)
        {
            reads.Execute();
            foreach (var (key, version, read) in guarded)
            {
                var stored = await read;
                // A mismatch already visible fails before anything is sent; otherwise the version read is pinned, so
                // a write that lands between this read and EXEC aborts the transaction instead.
                if (!stored.IsNullOrEmpty && stored != version) throw new ETagMismatchException(key);
                transaction.AddCondition(stored.IsNull ? Condition.HashNotExists(key, "version") : Condition.HashEqual(key, "version", stored));
            }
        }

        // Inside the transaction plain commands do what the scripts would: the conditions above already hold exactly
        // when the scripts would accept. (A script inside MULTI is sent as EVAL with its whole text, which Redis hashes
        // and looks up for every key: most of the server's time under load.)
        var pending = new List<Task>(operations.Count * 3);
        foreach (var op in operations)
        {
            if (op is StateSet set)
            {
                var (_, firstWrite, ttl) = Prepare(set);
                pending.Add(transaction.HashSetAsync(set.Key, firstWrite == "0" ? [new("data", set.Value), new("first-write", 0)] : [new("data", set.Value)]));
                pending.Add(transaction.HashIncrementAsync(set.Key, "version"));
                if (ttl > 0) pending.Add(transaction.KeyExpireAsync(set.Key, TimeSpan.FromSeconds(ttl.Value)));
                else if (ttl <= 0) pending.Add(transaction.KeyPersistAsync(set.Key));
            }
            else if (op is StateDelete delete)
            {
                pending.Add(transaction.KeyDeleteAsync(delete.Key));
            }
        }
        if (!await transaction.ExecuteAsync()) throw new ETagMismatchException(SomeKeys(operations));
        try
        {
            await Task.WhenAll(pending);
        }
        catch (RedisServerException)
        {
            throw new ETagMismatchException("transaction");
        }
    }

    /// <summary>Names a few keys of a refused transaction (hundreds would drown the error message).</summary>
    private static string SomeKeys(IReadOnlyList<object> operations)
    {
        var named = operations.Take(5).Select(op => op switch { StateSet s => s.Key, StateDelete d => d.Key, _ => "?" });
        return string.Join(", ", named) + (operations.Count > 5 ? $" and {operations.Count - 5} more" : "");
    }

    private (string Version, string FirstWrite, int? Ttl) Prepare(StateSet request) => (
        Version(request.Key, request.ETag, request.Concurrency),
        request.Concurrency == StateConcurrency.FirstWrite ? "0" : "1",
        StateMetadata.Ttl(request.Metadata) ?? _defaultTtl);

    /// <summary>Dapr ignores the ETag under explicit last-write concurrency; otherwise it must be an integer.</summary>
    private static string Version(string key, string? etag, StateConcurrency concurrency)
    {
        if (concurrency == StateConcurrency.LastWrite || string.IsNullOrEmpty(etag)) return "0";
        return long.TryParse(etag, out _) ? etag : throw new ETagInvalidException(key, etag);
    }

    public ValueTask DisposeAsync() => _redis.DisposeAsync();
}
