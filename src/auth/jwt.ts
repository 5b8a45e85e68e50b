// JWT bearer tokens (spec multi-authorization §6.3, README decision 3) verified with jose: keys from a
// JWKS URL (cached, refetched on an unknown kid after a cooldown) and/or static PEM/JWK files; iss, aud,
// exp, nbf with a clock tolerance; an allow-list of asymmetric algorithms. Tokens that name their own
// key (jku, x5u, x5c, jwk) are refused outright: Warden only trusts keys from its configuration.
import { createHash, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { Logger } from 'pino';
import { ROLE_NAMES, type Config, type RoleName } from '../config/schema.ts';
import { WardenError } from '../server/errors.ts';
import { CredentialFileError, pemBlocks, readConfigFile } from './files.ts';
import type { Credential } from './principal.ts';

type JwtConfig = Config['jwt'];

interface StaticKey {
  key: KeyObject;
  kid: string | null;
  alg: string | null;
  source: string;
}

interface CachedToken {
  credential: Credential;
  /** exp in ms. */
  expires: number;
}

/** Header parameters by which a token would point at its own key; never followed (RFC 8725 §3.10). */
const SELF_KEYING_HEADERS = ['jku', 'x5u', 'x5c', 'jwk'] as const;

/** Which key types can verify which JWS algorithm family (RFC 7518 §3, RFC 8037). */
function keyFits(key: KeyObject, alg: string): boolean {
  const t = key.asymmetricKeyType;
  if (alg.startsWith('RS')) return t === 'rsa';
  if (alg.startsWith('PS')) return t === 'rsa' || t === 'rsa-pss';
  if (alg.startsWith('ES')) {
    const crv = key.asymmetricKeyDetails?.namedCurve;
    return t === 'ec' && ((alg === 'ES256' && crv === 'prime256v1') || (alg === 'ES384' && crv === 'secp384r1') || (alg === 'ES512' && crv === 'secp521r1'));
  }
  if (alg === 'EdDSA') return t === 'ed25519' || t === 'ed448';
  if (alg === 'Ed25519') return t === 'ed25519';
  return false;
}

function loadStaticKeys(files: readonly string[]): StaticKey[] {
  const keys: StaticKey[] = [];
  files.forEach((file, i) => {
    const prop = `jwt.publicKeys[${i}]`;
    const text = readConfigFile(prop, file).toString('utf8');
    const blocks = pemBlocks(text);
    try {
      if (blocks.length > 0) {
        for (const b of blocks) {
          if (b.label === 'PUBLIC KEY' || b.label === 'RSA PUBLIC KEY') keys.push({ key: createPublicKey(b.pem), kid: null, alg: null, source: file });
          else if (b.label === 'CERTIFICATE') keys.push({ key: new X509Certificate(b.pem).publicKey, kid: null, alg: null, source: file });
          else throw new CredentialFileError(`config property '${prop}': ${file}: PEM block '${b.label}' is not a public key or certificate`);
        }
        return;
      }
      const doc = JSON.parse(text) as { keys?: unknown[] } & Record<string, unknown>;
      const jwks = Array.isArray(doc.keys) ? doc.keys : [doc];
      for (const raw of jwks) {
        const jwk = raw as Record<string, unknown>;
        // A private or symmetric JWK in the trust configuration is a mistake that would also make HMAC
        // confusion possible: refuse the start.
        if (jwk.kty === 'oct' || 'd' in jwk) throw new CredentialFileError(`config property '${prop}': ${file}: only public keys may be configured`);
        const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
        keys.push({ key, kid: typeof jwk.kid === 'string' ? jwk.kid : null, alg: typeof jwk.alg === 'string' ? jwk.alg : null, source: file });
      }
    } catch (e) {
      if (e instanceof CredentialFileError) throw e;
      throw new CredentialFileError(`config property '${prop}': ${file}: not a PEM public key/certificate or a JWK/JWKS (${(e as Error).message})`);
    }
  });
  return keys;
}

/** A claim by dotted path (`realm_access.roles`). */
function claimAt(payload: JWTPayload, path: string): unknown {
  let v: unknown = payload;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function rolesFromClaim(value: unknown): RoleName[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/[\s,]+/) : [];
  return ROLE_NAMES.filter((r) => list.includes(r));
}

function describe(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'token expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf') return 'token not yet valid';
    if (e.claim === 'iss') return 'unexpected issuer';
    if (e.claim === 'aud') return 'unexpected audience';
    return `claim ${e.claim}: ${e.reason}`;
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return 'signature algorithm not allowed';
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'no trusted key matches the token (kid/alg)';
  if (e instanceof joseErrors.JWKSMultipleMatchingKeys) return 'several trusted keys match the token';
  if (e instanceof joseErrors.JWKSTimeout) return 'JWKS endpoint timed out';
  if (e instanceof joseErrors.JOSENotSupported) return `unsupported token feature: ${e.message}`;
  if (e instanceof joseErrors.JWSInvalid || e instanceof joseErrors.JWTInvalid) return `malformed token: ${e.message}`;
  if (e instanceof joseErrors.JOSEError) return e.message;
  return 'token cannot be verified';
}

export class JwtAuthenticator {
  private readonly staticKeys: StaticKey[];
  private readonly remote: ReturnType<typeof createRemoteJWKSet> | null;
  private readonly verifyOptions: JWTVerifyOptions;
  private readonly cache = new Map<string, CachedToken>();
  /** JWKS documents fetched and tokens answered from the cache (Prometheus counters, src/server/metrics.ts). */
  jwksFetches = 0;
  tokenCacheHits = 0;

  constructor(
    private readonly cfg: JwtConfig,
    private readonly logger: Logger,
  ) {
    if (cfg.jwksUrl === null && cfg.publicKeys.length === 0) {
      throw new CredentialFileError("config property 'jwt': enabled, but neither jwt.jwksUrl nor jwt.publicKeys names a key");
    }
    // Without iss/aud, a token the same IdP issued for another service would be accepted here.
    if (cfg.issuer === null || (Array.isArray(cfg.issuer) && cfg.issuer.length === 0)) {
      throw new CredentialFileError("config property 'jwt.issuer': required when jwt.enabled");
    }
    if (cfg.audience === null || (Array.isArray(cfg.audience) && cfg.audience.length === 0)) {
      throw new CredentialFileError("config property 'jwt.audience': required when jwt.enabled");
    }
    this.staticKeys = loadStaticKeys(cfg.publicKeys);
    this.remote = cfg.jwksUrl
      ? createRemoteJWKSet(new URL(cfg.jwksUrl), {
          timeoutDuration: cfg.jwksTimeoutMs,
          cooldownDuration: cfg.jwksCooldownSeconds * 1000,
          cacheMaxAge: cfg.jwksCacheMaxAgeSeconds * 1000,
          [customFetch]: (url, options) => {
            this.jwksFetches++;
            return fetch(url, options);
          },
        })
      : null;
    this.verifyOptions = {
      issuer: cfg.issuer,
      audience: cfg.audience,
      algorithms: [...cfg.algorithms],
      clockTolerance: cfg.clockToleranceSeconds,
      requiredClaims: ['exp'],
      // No critical header extension is understood: any `crit` entry makes the token invalid (RFC 7515 §4.1.11).
      crit: {},
    };
  }

  /** Number of verified tokens held in the cache (tests, the benchmark). */
  get cachedTokens(): number {
    return this.cache.size;
  }

  /**
   * The bearer-token credential; null when no token is sent and none is required (`jwt.required: false`).
   * Missing while required → 401/406; invalid → 401/617.
   */
  async authenticate(authorization: string | string[] | undefined): Promise<Credential | null> {
    if (Array.isArray(authorization)) throw new WardenError(617, 'Invalid access token: several Authorization headers');
    const m = authorization === undefined ? null : /^Bearer[ \t]+([A-Za-z0-9_.~+/=-]+)\s*$/i.exec(authorization);
    if (!m) {
      if (authorization !== undefined && /^Bearer\b/i.test(authorization)) throw new WardenError(617, 'Invalid access token: malformed bearer token');
      if (this.cfg.required) throw new WardenError(406, 'Missing access token: send it as Authorization: Bearer <JWT>');
      return null;
    }
    const token = m[1];
    const id = createHash('sha256').update(token).digest('base64url');
    const now = Date.now();
    const hit = this.cache.get(id);
    if (hit) {
      if (hit.expires > now) {
        this.tokenCacheHits++;
        return hit.credential;
      }
      this.cache.delete(id);
    }
    const payload = await this.verify(token);
    const credential = this.credentialOf(payload);
    this.remember(id, credential, (payload.exp as number) * 1000);
    return credential;
  }

  private remember(id: string, credential: Credential, expires: number): void {
    if (this.cfg.tokenCacheSize <= 0 || expires <= Date.now()) return;
    // Bounded: the oldest entry (insertion order) makes room.
    while (this.cache.size >= this.cfg.tokenCacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(id, { credential, expires });
  }

  private credentialOf(payload: JWTPayload): Credential {
    let tenant: string | null = null;
    if (this.cfg.tenantClaim) {
      const t = claimAt(payload, this.cfg.tenantClaim);
      if (typeof t !== 'string' && typeof t !== 'number') throw new WardenError(617, `Invalid access token: claim '${this.cfg.tenantClaim}' (tenant) is missing`);
      tenant = String(t);
    }
    const roles = this.cfg.rolesClaim ? rolesFromClaim(claimAt(payload, this.cfg.rolesClaim)) : null;
    const sub = typeof payload.sub === 'string' ? payload.sub : 'unknown';
    return { method: 'jwt', subject: `jwt:${sub}${tenant !== null ? `@${tenant}` : ''}`, roles, tenant };
  }

  private async verify(token: string): Promise<JWTPayload> {
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new WardenError(617, 'Invalid access token: malformed token');
    }
    for (const h of SELF_KEYING_HEADERS) {
      if (h in header) throw new WardenError(617, `Invalid access token: header '${h}' is not accepted (keys come from the configuration only)`);
    }
    const alg = typeof header.alg === 'string' ? header.alg : '';
    if (!(this.cfg.algorithms as readonly string[]).includes(alg)) throw new WardenError(617, `Invalid access token: signature algorithm '${alg || 'none'}' not allowed`);
    const kid = typeof header.kid === 'string' ? header.kid : null;

    let lastError: unknown = null;
    const candidates = this.staticKeys.filter((k) => (k.kid === null || kid === null || k.kid === kid) && (k.alg === null || k.alg === alg) && keyFits(k.key, alg));
    for (const k of candidates) {
      try {
        return (await jwtVerify(token, k.key, this.verifyOptions)).payload;
      } catch (e) {
        // Try the next key only when this one simply did not sign the token; claim failures are final.
        if (!(e instanceof joseErrors.JWSSignatureVerificationFailed)) throw new WardenError(617, `Invalid access token: ${describe(e)}`);
        lastError = e;
      }
    }
    if (this.remote) {
      try {
        return (await jwtVerify(token, this.remote, this.verifyOptions)).payload;
      } catch (e) {
        if (!(e instanceof joseErrors.JOSEError)) this.logger.warn({ err: e, jwksUrl: this.cfg.jwksUrl }, 'JWKS fetch failed');
        else if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid) this.logger.warn({ err: e, jwksUrl: this.cfg.jwksUrl }, 'JWKS unusable');
        throw new WardenError(617, `Invalid access token: ${e instanceof joseErrors.JOSEError ? describe(e) : 'trusted keys cannot be fetched'}`);
      }
    }
    throw new WardenError(617, `Invalid access token: ${lastError ? describe(lastError) : 'no trusted key matches the token (kid/alg)'}`);
  }
}
