using Personalization.Contracts;

namespace Personalization.Aggregation.Model;

/// <summary>An event that ties two ids to one person: <paramref name="From"/> is to belong to <paramref name="To"/>'s profile.</summary>
public sealed record IdentityLink(string From, string To, bool IsAlias, string MessageId);

/// <summary>A profile that joins another: <paramref name="Root"/> (and every id linked to it) now belongs to <paramref name="Master"/>, by the event <paramref name="MessageId"/>.</summary>
public readonly record struct IdentityJoin(string Root, string Master, string MessageId);

/// <summary>
/// Identity resolution: which ids belong to one person, and whose profile holds them.
/// <list type="bullet">
/// <item>An event with both a <c>userId</c> and an <c>anonymousId</c> (an <c>identify</c> after login, and every event
/// a signed-in SDK sends) links the anonymous id to the user; an <c>alias</c> links <c>previousId</c> to
/// <c>userId</c>.</item>
/// <item>Every id has at most one master, and a master has none: the known user id the link names (or, when that id
/// was itself linked, its master). Joining moves every id of the joining profile to the master at once, so links never
/// form chains or cycles: <c>a</c> aliased to <c>b</c> and then <c>b</c> aliased to <c>a</c> is one profile, mastered
/// by <c>b</c>.</item>
/// <item>An anonymous id belongs to the first user it was linked to (in the order links are taken). A later event of
/// another user carrying it (a shared device) does not merge the two users: only an <c>alias</c> merges two known users,
/// and then the alias's <c>userId</c> is the master.</item>
/// </list>
/// </summary>
public static class IdentityRules
{
    /// <summary>The links the event makes (none for most events).</summary>
    public static IdentityLink? LinkOf(CollectedEvent e)
    {
        if (e.Type == EventTypes.Alias && e.PreviousId is { Length: > 0 } previous && e.UserId is { Length: > 0 } user && previous != user)
        {
            return new IdentityLink(previous, user, IsAlias: true, e.MessageId);
        }
        return e.UserId is { Length: > 0 } known && e.AnonymousId is { Length: > 0 } anonymous && anonymous != known
            ? new IdentityLink(anonymous, known, IsAlias: false, e.MessageId)
            : null;
    }

    /// <summary>
    /// Takes <paramref name="links"/> in order into <paramref name="masters"/> (id → master, for the linked ids among
    /// those the links name; changed in place) and returns the joins they make.
    /// </summary>
    public static List<IdentityJoin> Apply(Dictionary<string, string> masters, IEnumerable<IdentityLink> links)
    {
        var joins = new List<IdentityJoin>();
        foreach (var link in links)
        {
            var master = masters.GetValueOrDefault(link.To) ?? link.To;
            var fromMaster = masters.GetValueOrDefault(link.From);
            var root = fromMaster ?? link.From;
            if (root == master) continue;
            if (!link.IsAlias && fromMaster is not null) continue;
            foreach (var (id, current) in masters.ToList())
            {
                if (current == root) masters[id] = master;
            }
            masters[root] = master;
            joins.Add(new IdentityJoin(root, master, link.MessageId));
        }
        return joins;
    }
}
