using System.Text;
using Personalization.Collector.Model;

namespace Personalization.Collector.Tests;

internal static class Requests
{
    public static readonly DateTimeOffset ReceivedAt = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    public static readonly RequestInfo Info = new(ReceivedAt, "web", "203.0.113.7");

    public static SegmentRequestReader Reader(CollectorOptions? options = null) => new(options ?? new CollectorOptions());

    public static ReadOnlyMemory<byte> Utf8(string json) => Encoding.UTF8.GetBytes(json);

    public static ReadResult Single(string type, string json, CollectorOptions? options = null) =>
        Reader(options).ReadSingle(Utf8(json), type, Info);

    public static ReadResult Batch(string json, CollectorOptions? options = null) =>
        Reader(options).ReadBatch(Utf8(json), Info);
}
