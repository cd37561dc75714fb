using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Personalization.Gateway.Model;

/// <summary>
/// The <c>UserTokens</c> section: the key user tokens are signed with (HMAC-SHA256, at least 32 bytes; the AppHost
/// generates one per run) and how long a token may live.
/// </summary>
public sealed class UserTokenOptions
{
    public const string Section = "UserTokens";

    /// <summary>Empty: user tokens are switched off (minting answers 503, presented tokens are refused).</summary>
    public string SigningKey { get; set; } = "";

    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan DefaultLifetime { get; set; } = TimeSpan.FromMinutes(15);

    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// Short-lived per-user tokens: a JSON Web Token (HS256) naming one user id (<c>sub</c>), for this gateway
/// (<see cref="Issuer"/>, <see cref="Audience"/>), expiring within <see cref="UserTokenOptions.MaxLifetime"/>.
/// The site's server mints one with its admin key (<c>POST /v1/tokens</c>) and hands it to that user's browser, which
/// can then open the user's profile stream and ask for decisions, and nothing else: it never holds a key that reads
/// other users. Signing and validation are <c>Microsoft.IdentityModel.JsonWebTokens</c>'.
/// </summary>
public sealed class UserTokens
{
    public const string Issuer = "personalization-gateway";
    public const string Audience = "personalization-user";
    /// <summary>Least key length HS256 accepts (256 bits).</summary>
    public const int MinKeyBytes = 32;

    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };
    private readonly SymmetricSecurityKey? _key;
    private readonly TokenValidationParameters? _validation;
    private readonly TimeProvider _clock;

    public UserTokens(UserTokenOptions options, TimeProvider clock)
    {
        Options = options;
        _clock = clock;
        if (Encoding.UTF8.GetByteCount(options.SigningKey) < MinKeyBytes) return;
        _key = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(options.SigningKey));
        _validation = new TokenValidationParameters
        {
            ValidIssuer = Issuer,
            ValidAudience = Audience,
            IssuerSigningKey = _key,
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ClockSkew = TimeSpan.FromSeconds(30),
            RequireExpirationTime = true,
        };
    }

    public UserTokenOptions Options { get; }

    public bool Enabled => _key is not null;

    /// <summary>Whether a presented credential is shaped like a token (three base64url parts, a JSON header) rather than an API key.</summary>
    public static bool LooksLikeToken(string credential) =>
        credential.StartsWith("eyJ", StringComparison.Ordinal) && credential.Count(c => c == '.') == 2;

    public (string Token, DateTimeOffset ExpiresAt) Mint(string userId, TimeSpan lifetime)
    {
        if (_key is null) throw new InvalidOperationException("user tokens are not configured (UserTokens:SigningKey)");
        var now = _clock.GetUtcNow();
        var expires = now + lifetime;
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Subject = new ClaimsIdentity([new Claim(JwtRegisteredClaimNames.Sub, userId)]),
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = new SigningCredentials(_key, SecurityAlgorithms.HmacSha256),
        });
        return (token, DateTimeOffset.FromUnixTimeSeconds(expires.ToUnixTimeSeconds()));
    }

    /// <summary>The user id a valid token names, or why it is refused (expired, forged, malformed, for another audience).</summary>
    public async Task<(string? UserId, string? Refusal)> ValidateAsync(string token)
    {
        if (_validation is null) return (null, "user tokens are not enabled on this gateway");
        var result = await _handler.ValidateTokenAsync(token, _validation);
        if (!result.IsValid)
        {
            return (null, result.Exception switch
            {
                SecurityTokenExpiredException or SecurityTokenInvalidLifetimeException => "the user token has expired; ask the site for a new one",
                SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "the user token's signature is not valid",
                _ => "the user token is not valid",
            });
        }
        return result.Claims.TryGetValue(JwtRegisteredClaimNames.Sub, out var sub) && sub is string { Length: > 0 } user
            ? (user, null)
            : (null, "the user token names no user");
    }
}
