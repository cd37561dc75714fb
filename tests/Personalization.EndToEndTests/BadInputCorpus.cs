using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;

namespace Personalization.EndToEndTests;

/// <summary>One request of the corpus, as a client would send it to the gateway.</summary>
/// <param name="UserId">The user every event of an ingestion request names, when no mutation touched the ids.</param>
public sealed record CorpusCase(
    string Label, string Method, string Path, string? Authorization, string? ContentType, string? ContentEncoding,
    byte[]? Body, string? UserId)
{
    public HttpRequestMessage ToRequest()
    {
        var request = new HttpRequestMessage(new HttpMethod(Method), Path);
        if (Authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", Authorization);
        if (Body is not null)
        {
            request.Content = new ByteArrayContent(Body);
            if (ContentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
            if (ContentEncoding is not null) request.Content.Headers.TryAddWithoutValidation("Content-Encoding", ContentEncoding);
        }
        return request;
    }

    public override string ToString() =>
        $"{Label}: {Method} {Path} auth={Authorization ?? "-"} type={ContentType ?? "-"} enc={ContentEncoding ?? "-"} body={Preview()}";

    private string Preview()
    {
        if (Body is null) return "-";
        if (ContentEncoding is not null) return $"{Body.Length} encoded bytes";
        var text = Encoding.UTF8.GetString(Body);
        return text.Length <= 300 ? text : $"{text[..300]}… ({Body.Length} bytes)";
    }
}

/// <summary>
/// Generates bad (and some good) requests across every public route of the gateway: JSON structure mutations, wrong
/// types, sizes at and past each limit, broken encodings, duplicate keys, deep nesting, odd ids in paths, header and
/// API-key variants, gzip bodies including a small one that inflates past the limit.
/// </summary>
public static class BadInputCorpus
{
    private const string WriteBasic = "Basic ZGV2LXdyaXRlLWtleTo=";   // "dev-write-key:"
    private const string ReadBearer = "Bearer dev-read-key";
    private const string AdminBearer = "Bearer dev-admin-key";

    private static readonly string[] IngestionPaths =
        ["track", "identify", "page", "screen", "group", "alias", "batch", "t", "i", "p", "s", "g", "a", "b"];

    private static readonly string[] Fields =
        ["type", "userId", "anonymousId", "messageId", "event", "name", "groupId", "previousId", "properties", "traits",
         "context", "integrations", "timestamp", "sentAt"];

    private static readonly string[] OddTimes =
        ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
         "2024-13-45T25:61:61Z", "", "yesterday", "1969-12-31T23:59:59Z", "2099-01-01T00:00:00Z", "2024-05-01"];

    /// <summary>Ids a path may carry, percent-encoded as a client would send them.</summary>
    private static readonly string[] OddIds =
        ["", "%20", "..", ".", "%2F", "a%2Fb", "%00", "%0A", "%FF", "%C3%28", "%E2%82%AC", "%F0%9F%98%80", "a?b=c", "a%23b",
         "%25", "con", new string('x', 257), new string('y', 5000), "a%20b", "~user", "*", "%u0041"];

    private static Gen<JsonNode?> WrongValue => Gen.OneOf(
        Gen.Const((JsonNode?)null),
        Gen.Int.Select(i => (JsonNode?)JsonValue.Create(i)),
        Gen.Double.Select(d => (JsonNode?)(double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(1e308))),
        Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b)),
        Gen.Const<JsonNode?>(new JsonArray(1, "two", null)),
        Gen.Const<JsonNode?>(new JsonObject { ["nested"] = true }),
        Gen.Int[1020, 1030].Select(n => (JsonNode?)JsonValue.Create(new string('z', n))),
        Gen.Const<JsonNode?>(JsonValue.Create(new string('w', 40_000))),
        Gen.OneOf("\u0000", "\u001f", "\ud800", "\uffff", "é\u0301", "  ", "null").Select(s => (JsonNode?)JsonValue.Create(s)),
        Gen.OneOf(OddTimes).Select(s => (JsonNode?)JsonValue.Create(s)));

    public static Gen<CorpusCase> Cases => Gen.Frequency(
        (54, Ingestion),
        (13, Consent),
        (12, Profiles),
        (10, Serving),
        (5, Plans),
        (11, Elsewhere));

    private static JsonObject ValidEvent(string type, string userId, int n)
    {
        var e = new JsonObject
        {
            ["type"] = type, ["userId"] = userId, ["messageId"] = Guid.NewGuid().ToString(),
            ["timestamp"] = DateTimeOffset.UtcNow.AddSeconds(-n).ToString("O"),
            ["properties"] = new JsonObject { ["n"] = n }, ["context"] = new JsonObject { ["ip"] = "203.0.113.9" },
        };
        switch (type)
        {
            case "track": e["event"] = "Corpus Event"; break;
            case "page" or "screen": e["name"] = "Corpus Page"; break;
            case "group": e["groupId"] = "g-" + n; break;
            case "alias": e["previousId"] = "prev-" + userId; break;
        }
        return e;
    }

    private static readonly Gen<string> EventType = Gen.OneOf("track", "identify", "page", "screen", "group", "alias");

    /// <summary>One mutation of an event object; true when it may have changed which user the event names.</summary>
    private static Gen<Func<JsonObject, bool>> Mutation => Gen.OneOf(
        Gen.OneOf(Fields).Select(f => (Func<JsonObject, bool>)(e => { e.Remove(f); return f is "userId" or "type"; })),
        Gen.Select(Gen.OneOf(Fields), WrongValue, (f, v) => (Func<JsonObject, bool>)(e => { e[f] = v?.DeepClone(); return f is "userId" or "anonymousId" or "type"; })),
        Gen.Select(Gen.OneOf("timestamp", "sentAt"), Gen.OneOf(OddTimes), (f, t) => (Func<JsonObject, bool>)(e => { e[f] = t; return false; })),
        Gen.Int[1, 300].Select(depth => (Func<JsonObject, bool>)(e => { e["properties"] = Nested(depth); return false; })),
        Gen.Int[1, 2000].Select(count => (Func<JsonObject, bool>)(e =>
        {
            var properties = new JsonObject();
            for (var i = 0; i < count; i++) properties["p" + i] = new string('v', 20);
            e["properties"] = properties;
            return false;
        })),
        Gen.Const((Func<JsonObject, bool>)(e => { e["extra field"] = "ignored?"; return false; })));

    private static JsonNode Nested(int depth)
    {
        JsonNode node = JsonValue.Create("leaf");
        for (var i = 0; i < depth; i++) node = i % 2 == 0 ? new JsonObject { ["d"] = node } : new JsonArray(node);
        return node;
    }

    /// <summary>A change to the bytes after serialization.</summary>
    private static Gen<Func<byte[], byte[]>> RawMutation => Gen.OneOf(
        Gen.Const((Func<byte[], byte[]>)(b => b)),
        Gen.Const((Func<byte[], byte[]>)(b => b)),
        Gen.Const((Func<byte[], byte[]>)(b => b)),
        Gen.Double[0, 1].Select(f => (Func<byte[], byte[]>)(b => b[..(int)(b.Length * f)])),
        Gen.Select(Gen.Double[0, 1], Gen.OneOf<byte[]>([0xFF], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0x00], [0xEF, 0xBB, 0xBF]),
            (f, bad) => (Func<byte[], byte[]>)(b => { var at = (int)(b.Length * f); return [.. b[..at], .. bad, .. b[at..]]; })),
        Gen.Const((Func<byte[], byte[]>)(b => [0xEF, 0xBB, 0xBF, .. b])),
        Gen.Const((Func<byte[], byte[]>)(b => Encoding.Unicode.GetBytes(Encoding.UTF8.GetString(b)))),
        Gen.Const((Func<byte[], byte[]>)(b => b.Length > 2 && b[0] == '{' ? [.. "{\"userId\":\"dup\","u8, .. b[1..]] : b)),
        Gen.OneOf("", "null", "[]", "{}", "\"text\"", "42", "{\"batch\":{}}", "{\"batch\":[1,2]}", "{\"batch\":null}", "not json at all", "{\"a\":")
            .Select(s => (Func<byte[], byte[]>)(_ => Encoding.UTF8.GetBytes(s))),
        Gen.Int[500 * 1024 - 64, 500 * 1024 + 64].Select(size => (Func<byte[], byte[]>)(_ => Padded(size))));

    /// <summary>A well-formed track event of exactly <paramref name="size"/> bytes (around the batch limit).</summary>
    private static byte[] Padded(int size)
    {
        var head = "{\"type\":\"track\",\"userId\":\"pad\",\"event\":\"Padded\",\"properties\":{\"p\":\""u8.ToArray();
        var tail = "\"}}"u8.ToArray();
        return [.. head, .. Enumerable.Repeat((byte)'a', Math.Max(0, size - head.Length - tail.Length)), .. tail];
    }

    private static Gen<string?> WriteAuth => Gen.Frequency(
        (88, Gen.Const<string?>(WriteBasic)),
        (3, Gen.Const((string?)null)),
        (2, Gen.Const<string?>("Basic bm90LWEta2V5Og==")),
        (2, Gen.Const<string?>("Basic !!!not-base64")),
        (2, Gen.Const<string?>(ReadBearer)),
        (1, Gen.Const<string?>("Bearer ")),
        (1, Gen.Const<string?>("Digest abc")),
        (1, Gen.Const<string?>("Basic " + new string('A', 9000))));

    private static Gen<string?> ContentType => Gen.Frequency(
        (80, Gen.Const<string?>("application/json")),
        (6, Gen.Const<string?>("text/plain")),
        (4, Gen.Const((string?)null)),
        (3, Gen.Const<string?>("application/x-www-form-urlencoded")),
        (3, Gen.Const<string?>("application/json; charset=utf-16")),
        (2, Gen.Const<string?>("application/xml")),
        (2, Gen.Const<string?>("garbage")));

    private static Gen<CorpusCase> Ingestion =>
        from path in Gen.OneOf(IngestionPaths)
        from type in EventType
        from count in Gen.Frequency((6, Gen.Int[1, 3]), (2, Gen.Int[0, 0]), (2, Gen.Int[4, 120]))
        from mutations in Mutation.Array[0, 3]
        from raw in RawMutation
        from auth in WriteAuth
        from contentType in ContentType
        from encoding in Gen.Frequency((88, Gen.Const((string?)null)), (6, Gen.Const<string?>("gzip")), (2, Gen.Const<string?>("gzip-bomb")),
            (2, Gen.Const<string?>("gzip-broken")), (1, Gen.Const<string?>("br")), (1, Gen.Const<string?>("x-unknown")))
        from seed in Gen.Int[0, int.MaxValue]
        select IngestionCase(path, type, count, mutations, raw, auth, contentType, encoding, seed);

    private static CorpusCase IngestionCase(string path, string type, int count, Func<JsonObject, bool>[] mutations,
        Func<byte[], byte[]> raw, string? auth, string? contentType, string? encoding, int seed)
    {
        var userId = $"corpus-{Guid.NewGuid():N}";
        var isBatch = path is "batch" or "b";
        var eventType = isBatch ? type : SegmentType(path);
        var events = Enumerable.Range(0, isBatch ? count : 1)
            .Select(i => ValidEvent(eventType, userId, (seed + i) % 1000)).ToList();
        var idsTouched = false;
        for (var m = 0; m < mutations.Length && events.Count > 0; m++)
        {
            idsTouched |= mutations[m](events[(seed + m) % events.Count]);
        }
        JsonNode body = isBatch ? new JsonObject { ["batch"] = new JsonArray([.. events]), ["sentAt"] = DateTimeOffset.UtcNow.ToString("O") }
            : events[0];
        var bytes = raw(Encoding.UTF8.GetBytes(body.ToJsonString()));
        string? contentEncoding = null;
        switch (encoding)
        {
            case "gzip":
                (bytes, contentEncoding) = (Gzip(bytes), "gzip");
                break;
            case "gzip-bomb":
                // About 2 KB on the wire that inflates to 4 MB of valid JSON, past every body limit.
                (bytes, contentEncoding) = (Gzip(Padded(4 * 1024 * 1024)), "gzip");
                break;
            case "gzip-broken":
                (bytes, contentEncoding) = ([0x1F, 0x8B, 0x08, 0x00, .. bytes], "gzip");
                break;
            case { } other:
                contentEncoding = other;
                break;
        }
        return new CorpusCase($"ingest/{path}", "POST", "/v1/" + path, auth, contentType, contentEncoding, bytes,
            idsTouched ? null : userId);
    }

    private static string SegmentType(string path) => path switch
    {
        "track" or "t" => "track",
        "identify" or "i" => "identify",
        "page" or "p" => "page",
        "screen" or "s" => "screen",
        "group" or "g" => "group",
        _ => "alias",
    };

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize)) gzip.Write(data);
        return output.ToArray();
    }

    private static Gen<string> Id => Gen.Frequency(
        (3, Gen.OneOf(OddIds)),
        (1, Gen.String[Gen.Char['!', '~'], 1, 40].Select(Uri.EscapeDataString)),
        (1, Gen.Const("corpus-user")));

    private static Gen<CorpusCase> Consent =>
        from method in Gen.Frequency((4, Gen.Const("PUT")), (2, Gen.Const("GET")), (1, Gen.Const("POST")), (1, Gen.Const("DELETE")), (1, Gen.Const("PATCH")))
        from id in Id
        from purposes in Gen.Frequency(
            (3, Gen.Const<JsonNode?>(new JsonObject { ["analytics"] = true, ["personalization"] = false })),
            (3, WrongValue),
            (1, Gen.Int[0, 300].Select(n => (JsonNode?)new JsonObject(Enumerable.Range(0, n).Select(i => KeyValuePair.Create("purpose-" + i, (JsonNode?)JsonValue.Create(i % 2 == 0)))))),
            (1, Gen.Const<JsonNode?>(new JsonObject { [new string('k', 300)] = true })))
        from source in Gen.Frequency((4, Gen.Const<JsonNode?>("corpus")), (1, WrongValue))
        from raw in RawMutation
        from auth in Gen.Frequency((6, Gen.Const((string?)null)), (1, Gen.Const<string?>("none")), (1, Gen.Const<string?>(ReadBearer)), (1, Gen.Const<string?>("Bearer wrong")))
        from contentType in ContentType
        select new CorpusCase("consent", method, "/v1/consent/" + id,
            auth switch { null => method switch { "GET" => ReadBearer, "DELETE" => AdminBearer, _ => WriteBasic }, "none" => null, var a => a },
            contentType, null,
            method is "PUT" or "POST" or "PATCH" ? raw(Encoding.UTF8.GetBytes(new JsonObject { ["purposes"] = purposes?.DeepClone(), ["source"] = source?.DeepClone() }.ToJsonString())) : null,
            null);

    private static Gen<CorpusCase> Profiles =>
        from method in Gen.Frequency((8, Gen.Const("GET")), (1, Gen.Const("DELETE")), (1, Gen.Const("POST")))
        from id in Id
        from suffix in Gen.Frequency((8, Gen.Const("")), (1, Gen.Const("/extra")), (1, Gen.Const("?fields=%ZZ")))
        from auth in Gen.Frequency((8, Gen.Const<string?>(ReadBearer)), (1, Gen.Const<string?>(WriteBasic)), (1, Gen.Const((string?)null)))
        select new CorpusCase("profiles", method, "/v1/profiles/" + id + suffix, method == "DELETE" ? AdminBearer : auth, null, null, null, null);

    /// <summary>A body of JSON fields, each a plausible value or a wrong one, then raw byte mutations.</summary>
    private static Gen<byte[]> Body(params (string Field, Gen<JsonNode?> Plausible)[] fields)
    {
        // Per field: plausible, wrong, or absent; then the raw byte mutations every body gets.
        var objects = Gen.Const(0).Select(_ => new JsonObject());
        foreach (var (field, plausible) in fields)
        {
            var value = Gen.Frequency((3, plausible.Select(v => (Present: true, Value: v))), (1, WrongValue.Select(v => (Present: true, Value: v))),
                (1, Gen.Const((Present: false, Value: (JsonNode?)null))));
            objects = from o in objects
                      from v in value
                      select v.Present ? With(o, field, v.Value) : o;
        }
        return from o in objects
               from raw in RawMutation
               select raw(Encoding.UTF8.GetBytes(o.ToJsonString()));
    }

    private static JsonObject With(JsonObject o, string field, JsonNode? value)
    {
        var copy = (JsonObject)o.DeepClone();
        copy[field] = value?.DeepClone();
        return copy;
    }

    private static Gen<JsonNode?> IdList(int max) =>
        Gen.Int[0, max].Select(n => (JsonNode?)new JsonArray(Enumerable.Range(0, n).Select(i => (JsonNode?)JsonValue.Create($"corpus-id-{i}")).ToArray()));

    /// <summary>
    /// The serving routes: decide, batch reads, placements, tokens, segment members, SDK settings, and streams with a
    /// query that is always wrong (a valid stream would never end).
    /// </summary>
    private static Gen<CorpusCase> Serving => Gen.OneOf(
        from body in Body(("userId", Gen.OneOf<JsonNode?>("corpus-user", "a||b", "")), ("placements", Gen.OneOf(IdList(25), Gen.Const<JsonNode?>(new JsonArray("home-banner")))))
        from auth in Gen.OneOf<string?>(ReadBearer, ReadBearer, WriteBasic, null, "Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged")
        select new CorpusCase("decide", "POST", "/v1/decide", auth, "application/json", null, body, null),
        from body in Body(("ids", IdList(120)), ("fields", Gen.OneOf<JsonNode?>("traits", "traits,shoeSize", "", ",,,")))
        select new CorpusCase("profiles-batch", "POST", "/v1/profiles:batch", ReadBearer, "application/json", null, body, null),
        from id in Gen.Frequency((3, Gen.Const("corpus-placement")), (1, Id))
        from body in Body(
            ("name", Gen.Const<JsonNode?>("Corpus")),
            ("variants", Gen.OneOf<JsonNode?>(
                new JsonArray(new JsonObject { ["id"] = "a", ["when"] = new JsonObject { ["segment"] = "s" }, ["content"] = new JsonObject() }),
                new JsonArray(new JsonObject { ["id"] = "a", ["when"] = new JsonObject { ["all"] = new JsonArray() }, ["content"] = new JsonObject() }),
                new JsonArray(new JsonObject { ["id"] = "a", ["content"] = new JsonObject(), ["when"] = Nested(20) }))),
            ("fallback", Gen.Const<JsonNode?>(new JsonObject { ["id"] = "f", ["content"] = new JsonObject { ["t"] = "x" } })))
        select new CorpusCase("placements", "PUT", "/v1/placements/" + id, AdminBearer, "application/json", null, body, null),
        from body in Body(("userId", Gen.OneOf<JsonNode?>("corpus-user", "", new string('u', 300))), ("ttlSeconds", Gen.OneOf<JsonNode?>(900, 0, 59, 3601, -1)))
        from auth in Gen.OneOf<string?>(AdminBearer, AdminBearer, ReadBearer)
        select new CorpusCase("tokens", "POST", "/v1/tokens", auth, "application/json", null, body, null),
        from id in Id
        from query in Gen.OneOf("", "?limit=0", "?limit=abc", "?limit=100000", "?cursor=%%%", "?cursor=AAAA", "?limit=2&cursor=Zm9v")
        select new CorpusCase("members", "GET", "/v1/segments/" + id + "/members" + query, AdminBearer, null, null, null, null),
        from id in Id
        select new CorpusCase("sdk-settings", "GET", "/v1/projects/" + id + "/settings", null, null, null, null, null),
        from id in Id
        from query in Gen.OneOf("?fields=shoeSize", "?lastEventId=abc&fields=x", "?placements=" + new string('p', 30) + "&fields=nope")
        from auth in Gen.OneOf<string?>(ReadBearer, ReadBearer, WriteBasic, "Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged")
        select new CorpusCase("stream", "GET", "/v1/profiles/" + id + "/stream" + query, auth, null, null, null, null));

    /// <summary>
    /// Tracking plans and the quarantine (admin key): plan bodies with valid, invalid and foreign-referencing schemas,
    /// wrong modes and types, odd ids; quarantine reads, replays and deletes of odd ids and bad queries. Every plan a case
    /// can create names "Corpus Plan Event", which nothing sends; no case replays or purges more than one id.
    /// </summary>
    private static Gen<CorpusCase> Plans => Gen.OneOf(
        from id in Gen.Frequency((3, Gen.Const("corpus-plan")), (1, Id))
        from type in Gen.Frequency((6, Gen.Const<JsonNode?>("track")), (1, Gen.Const<JsonNode?>("alias")), (1, WrongValue))
        from mode in Gen.Frequency((4, Gen.OneOf<JsonNode?>("allow", "warn", "block")), (1, Gen.Const<JsonNode?>("strict")), (1, WrongValue))
        from schema in Gen.Frequency(
            (4, Gen.Const<JsonNode?>(new JsonObject { ["required"] = new JsonArray("total"), ["properties"] = new JsonObject { ["total"] = new JsonObject { ["type"] = "number" } } })),
            (2, Gen.OneOf<JsonNode?>(new JsonObject { ["type"] = "numbr" }, new JsonObject { ["minimum"] = "x" }, new JsonObject { ["requried"] = new JsonArray("a") },
                new JsonObject { ["pattern"] = "((" }, new JsonObject { ["$ref"] = "https://example.com/s.json" }, new JsonObject { ["$ref"] = "#/$defs/nope" },
                new JsonObject { ["$schema"] = "https://example.com/dialect" })),
            (1, Gen.Int[1, 300].Select(depth => (JsonNode?)new JsonObject { ["properties"] = new JsonObject { ["a"] = Nested(depth) } })),
            (1, WrongValue))
        from raw in RawMutation
        from contentType in ContentType
        select new CorpusCase("tracking-plans", "PUT", "/v1/admin/tracking-plans/" + id, AdminBearer, contentType, null,
            raw(Encoding.UTF8.GetBytes(new JsonObject { ["type"] = type?.DeepClone(), ["event"] = "Corpus Plan Event", ["mode"] = mode?.DeepClone(), ["schema"] = schema?.DeepClone() }.ToJsonString())),
            null),
        from method in Gen.OneOf("GET", "DELETE", "POST", "PATCH")
        from id in Id
        from auth in Gen.Frequency((6, Gen.Const<string?>(AdminBearer)), (1, Gen.Const<string?>(ReadBearer)), (1, Gen.Const((string?)null)))
        select new CorpusCase("tracking-plan", method, "/v1/admin/tracking-plans/" + id, auth, null, null, null, null),
        from method in Gen.OneOf("GET", "POST", "DELETE")
        from id in Gen.Frequency((3, Id), (1, Gen.OneOf("-1", "0", "9223372036854775807", "9223372036854775808", "1e3")))
        from suffix in Gen.OneOf("", "/replay", "/replay/x")
        select new CorpusCase("quarantined", method, "/v1/admin/quarantine/" + id + suffix, AdminBearer, null, null, null, null),
        from query in Gen.OneOf("?limit=0", "?limit=abc", "?limit=501", "?after=x", "?event=", "?event=" + new string('e', 201), "?event=%00", "?event=Corpus%20Plan%20Event&limit=5", "")
        select new CorpusCase("quarantine", "GET", "/v1/admin/quarantine" + query, AdminBearer, null, null, null, null));

    private static Gen<CorpusCase> Elsewhere =>
        from method in Gen.OneOf("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
        from path in Gen.OneOf("/", "/v1", "/v1/", "/v2/track", "/v1/admin/whatever", "/v1/privacy/x", "/v1/track/extra",
            "/v1/TRACK", "/v1/%74rack", "/v1//track", "/v1/profiles", "/v1/consent", "/health/../v1/track", "/.env")
        from auth in Gen.OneOf<string?>(null, WriteBasic, ReadBearer, AdminBearer)
        select new CorpusCase("elsewhere", method, path, auth, method is "POST" or "PUT" or "PATCH" ? "application/json" : null, null,
            method is "POST" or "PUT" or "PATCH" ? "{}"u8.ToArray() : null, null);
}
