// Real-time revocation check of mTLS client certificates (spec multi-authorization §6.5, README
// decision 4) with an OCSP client of our own (RFC 6960; Node has none): request with a nonce (RFC 8954),
// response signed by the issuer or a delegated responder, freshness, nonce echo; results cached per
// (issuer, serial) and concurrent lookups for one certificate share a single request.
import { createHash, randomBytes, verify as cryptoVerify, X509Certificate, constants, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

const OID_NONCE = '1.3.6.1.5.5.7.48.1.2';
const OID_BASIC = '1.3.6.1.5.5.7.48.1.1';
const OID_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
/** Allowed clock skew between Warden and the responder for thisUpdate/nextUpdate (as OpenSSL's default). */
const SKEW_MS = 5 * 60 * 1000;
/** Without nextUpdate and without a nonce, a response older than this is stale. */
const MAX_AGE_WITHOUT_NEXT_UPDATE_MS = 5 * 60 * 1000;
const MAX_RESPONSE_BYTES = 1024 * 1024;

export type OcspCertStatus = 'good' | 'revoked' | 'unknown';

/**
 * `unavailable`: the responder could not be asked or did not answer (fail-open applies);
 * `invalid`: it answered something we cannot trust (malformed, badly signed, stale, nonce missing).
 */
export class OcspError extends Error {
  constructor(
    readonly kind: 'unavailable' | 'invalid',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OcspError';
  }
}

export interface OcspResult {
  status: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate: Date | null;
  /** Responder that answered. */
  url: string;
}

export interface OcspOptions {
  /** Overrides the certificate's AIA OCSP URI. */
  responderUrl: string | null;
  timeoutMs: number;
  cacheSeconds: number;
  requireNonce: boolean;
  cacheSize: number;
  /** For tests: the clock. */
  now?: () => number;
}

interface CacheEntry {
  result: OcspResult;
  expires: number;
}

// --- signatures ----------------------------------------------------------------------------------

const HASH_BY_SIG_OID: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.10040.4.3': 'sha1',
  '2.16.840.1.101.3.4.3.1': 'sha224',
  '2.16.840.1.101.3.4.3.2': 'sha256',
};
const HASH_BY_DIGEST_OID: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** Verifies an X.509-style signature (AlgorithmIdentifier + BIT STRING) with a public key. */
export function verifyAlgorithmSignature(alg: pkijs.AlgorithmIdentifier, data: Uint8Array, signature: Uint8Array, key: KeyObject): boolean {
  const oid = alg.algorithmId;
  try {
    if (oid === '1.3.101.112' || oid === '1.3.101.113') return cryptoVerify(null, data, key, signature);
    if (oid === '1.2.840.113549.1.1.10') {
      const params = new pkijs.RSASSAPSSParams({ schema: alg.algorithmParams });
      const hash = HASH_BY_DIGEST_OID[params.hashAlgorithm.algorithmId];
      if (!hash) return false;
      return cryptoVerify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength }, signature);
    }
    const hash = HASH_BY_SIG_OID[oid];
    if (!hash) return false;
    return cryptoVerify(hash, data, key, signature);
  } catch {
    return false;
  }
}

// --- helpers -------------------------------------------------------------------------------------

const toBuf = (v: ArrayBuffer | Uint8Array) => Buffer.from(v instanceof Uint8Array ? v : new Uint8Array(v));

function pkiCert(x: X509Certificate): pkijs.Certificate {
  return pkijs.Certificate.fromBER(x.raw);
}

function nodeCert(c: pkijs.Certificate): X509Certificate {
  return new X509Certificate(toBuf(c.toSchema(false).toBER(false)));
}

/** The OCSP responder URLs of a certificate's Authority Information Access extension. */
export function ocspUrlsOf(cert: X509Certificate): string[] {
  return (cert.infoAccess ?? '')
    .split('\n')
    .map((l) => /^OCSP - URI:(https?:\/\/\S+)$/.exec(l.trim())?.[1])
    .filter((u): u is string => u !== undefined);
}

function keyHash(c: pkijs.Certificate): Buffer {
  return createHash('sha1').update(c.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest();
}

// --- the checker -------------------------------------------------------------------------------

export class OcspChecker {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<OcspResult>>();
  private readonly keys = new WeakMap<X509Certificate, WeakMap<X509Certificate, string>>();
  /** Number of OCSP requests actually sent (for tests and the benchmark). */
  requests = 0;
  /** Statuses answered from the cache (Prometheus counter, src/server/metrics.ts). */
  cacheHits = 0;

  constructor(private readonly opts: OcspOptions) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Status of `leaf` issued by `issuer`, from the cache or the responder (single-flight per certificate). */
  async status(leaf: X509Certificate, issuer: X509Certificate): Promise<OcspResult> {
    const key = this.cacheKey(leaf, issuer);
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.expires > this.now()) {
        this.cacheHits++;
        return hit.result;
      }
      this.cache.delete(key);
    }
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.query(leaf, issuer).then(
      (result) => {
        this.remember(key, result);
        return result;
      },
    ).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /**
   * (issuer, serial), memoized per certificate object: the auth chain keeps one object per connection,
   * and exporting a public key costs ~0.4 ms on OpenSSL 3, more than the whole cached check may.
   */
  private cacheKey(leaf: X509Certificate, issuer: X509Certificate): string {
    let byIssuer = this.keys.get(leaf);
    if (!byIssuer) {
      byIssuer = new WeakMap();
      this.keys.set(leaf, byIssuer);
    }
    let key = byIssuer.get(issuer);
    if (key === undefined) {
      key = `${createHash('sha256').update(issuer.publicKey.export({ format: 'der', type: 'spki' })).digest('hex')}:${leaf.serialNumber}`;
      byIssuer.set(issuer, key);
    }
    return key;
  }

  private remember(key: string, result: OcspResult): void {
    if (this.opts.cacheSeconds <= 0) return;
    const now = this.now();
    let expires = now + this.opts.cacheSeconds * 1000;
    if (result.nextUpdate) expires = Math.min(expires, result.nextUpdate.getTime());
    if (expires <= now) return;
    if (this.cache.size >= this.opts.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, { result, expires });
  }

  /** Drops every cached answer (tests; an operator reloading revocation data). */
  clear(): void {
    this.cache.clear();
  }

  /** One OCSP round trip; throws OcspError. */
  async query(leaf: X509Certificate, issuer: X509Certificate): Promise<OcspResult> {
    const url = this.opts.responderUrl ?? ocspUrlsOf(leaf)[0];
    if (!url) throw new OcspError('unavailable', 'the client certificate names no OCSP responder (AIA) and tls.ocsp.responderUrl is not set');

    const leafP = pkiCert(leaf);
    const issuerP = pkiCert(issuer);
    const request = new pkijs.OCSPRequest();
    await request.createForCertificate(leafP, { hashAlgorithm: 'SHA-1', issuerCertificate: issuerP });
    const certId = request.tbsRequest.requestList[0].reqCert;
    const nonce = randomBytes(16);
    const nonceBer = new asn1js.OctetString({ valueHex: nonce }).toBER(false);
    const nonceExtValue = toBuf(nonceBer);
    request.tbsRequest.requestExtensions = [new pkijs.Extension({ extnID: OID_NONCE, extnValue: nonceBer })];
    const body = toBuf(request.toSchema(true).toBER(false));

    this.requests++;
    let raw: Buffer;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        redirect: 'error',
      });
      if (res.status !== 200) throw new OcspError('unavailable', `OCSP responder ${url} answered HTTP ${res.status}`);
      const len = Number(res.headers.get('content-length') ?? '0');
      if (len > MAX_RESPONSE_BYTES) throw new OcspError('invalid', `OCSP response from ${url} is too large`);
      raw = Buffer.from(await res.arrayBuffer());
      if (raw.length > MAX_RESPONSE_BYTES) throw new OcspError('invalid', `OCSP response from ${url} is too large`);
    } catch (e) {
      if (e instanceof OcspError) throw e;
      const why = (e as Error).name === 'TimeoutError' ? `timed out after ${this.opts.timeoutMs} ms` : ((e as Error & { cause?: Error }).cause?.message ?? (e as Error).message);
      throw new OcspError('unavailable', `OCSP responder ${url} unreachable: ${why}`, { cause: e });
    }
    return this.evaluate(raw, { url, leaf, issuer, issuerP, certId, nonceExtValue });
  }

  private evaluate(
    raw: Buffer,
    ctx: { url: string; leaf: X509Certificate; issuer: X509Certificate; issuerP: pkijs.Certificate; certId: pkijs.CertID; nonceExtValue: Buffer },
  ): OcspResult {
    const { url } = ctx;
    let response: pkijs.OCSPResponse;
    let basic: pkijs.BasicOCSPResponse;
    try {
      response = pkijs.OCSPResponse.fromBER(raw);
    } catch (e) {
      throw new OcspError('invalid', `malformed OCSP response from ${url}`, { cause: e });
    }
    const status = response.responseStatus.valueBlock.valueDec;
    // RFC 6960 §4.2.1: internalError (2) and tryLater (3) are the responder being unavailable.
    if (status === 2 || status === 3) throw new OcspError('unavailable', `OCSP responder ${url} answered ${status === 2 ? 'internalError' : 'tryLater'}`);
    if (status !== 0) throw new OcspError('invalid', `OCSP responder ${url} refused the request (responseStatus ${status})`);
    if (!response.responseBytes || response.responseBytes.responseType !== OID_BASIC) {
      throw new OcspError('invalid', `OCSP response from ${url} is not a basic response`);
    }
    try {
      basic = pkijs.BasicOCSPResponse.fromBER(response.responseBytes.response.valueBlock.valueHexView);
    } catch (e) {
      throw new OcspError('invalid', `malformed basic OCSP response from ${url}`, { cause: e });
    }

    this.verifySignature(basic, ctx);

    const tbs = basic.tbsResponseData;
    const nonceExt = tbs.responseExtensions?.find((x) => x.extnID === OID_NONCE);
    if (nonceExt) {
      if (!toBuf(nonceExt.extnValue.valueBlock.valueHexView).equals(ctx.nonceExtValue)) {
        throw new OcspError('invalid', `OCSP response from ${url} echoes a different nonce (replayed response?)`);
      }
    } else if (this.opts.requireNonce) {
      throw new OcspError('invalid', `OCSP response from ${url} does not echo the request nonce`);
    }

    const single = tbs.responses.find((r) => r.certID.isEqual(ctx.certId));
    if (!single) throw new OcspError('invalid', `OCSP response from ${url} does not cover the client certificate`);

    const now = this.now();
    const thisUpdate = single.thisUpdate;
    const nextUpdate = single.nextUpdate ?? null;
    if (thisUpdate.getTime() > now + SKEW_MS) throw new OcspError('invalid', `OCSP response from ${url} is dated in the future`);
    if (nextUpdate && nextUpdate.getTime() < now - SKEW_MS) throw new OcspError('invalid', `OCSP response from ${url} is stale (nextUpdate passed)`);
    if (!nextUpdate && !nonceExt && thisUpdate.getTime() < now - MAX_AGE_WITHOUT_NEXT_UPDATE_MS) {
      throw new OcspError('invalid', `OCSP response from ${url} is stale`);
    }

    const tag = (single.certStatus as asn1js.BaseBlock).idBlock;
    const certStatus: OcspCertStatus | null = tag.tagClass !== 3 ? null : tag.tagNumber === 0 ? 'good' : tag.tagNumber === 1 ? 'revoked' : tag.tagNumber === 2 ? 'unknown' : null;
    if (!certStatus) throw new OcspError('invalid', `OCSP response from ${url} has a malformed certStatus`);
    return { status: certStatus, thisUpdate, nextUpdate, url };
  }

  /**
   * RFC 6960 §4.2.2.2: the response must be signed by the issuing CA itself, or by a responder whose
   * certificate is issued by that CA, carries the id-kp-OCSPSigning EKU and is valid now.
   */
  private verifySignature(
    basic: pkijs.BasicOCSPResponse,
    ctx: { url: string; issuer: X509Certificate; issuerP: pkijs.Certificate },
  ): void {
    const responderId = basic.tbsResponseData.responderID as pkijs.RelativeDistinguishedNames | asn1js.OctetString;
    const names = (c: pkijs.Certificate) =>
      responderId instanceof asn1js.OctetString
        ? toBuf(responderId.valueBlock.valueHexView).equals(keyHash(c))
        : (responderId as pkijs.RelativeDistinguishedNames).isEqual(c.subject);
    const data = basic.tbsResponseData.tbsView;
    const sig = basic.signature.valueBlock.valueHexView;
    const now = this.now();

    const candidates: { cert: pkijs.Certificate; delegated: boolean }[] = [
      { cert: ctx.issuerP, delegated: false },
      ...(basic.certs ?? []).map((cert) => ({ cert, delegated: true })),
    ];
    const reasons: string[] = [];
    for (const { cert, delegated } of candidates) {
      if (!names(cert)) continue;
      let signer: X509Certificate;
      try {
        signer = delegated ? nodeCert(cert) : ctx.issuer;
      } catch {
        reasons.push('unparseable responder certificate');
        continue;
      }
      if (delegated && !signer.raw.equals(ctx.issuer.raw)) {
        if (!signer.checkIssued(ctx.issuer) || !signer.verify(ctx.issuer.publicKey)) {
          reasons.push(`responder ${signer.subject.replace(/\n/g, ',')} is not issued by the client certificate's issuer`);
          continue;
        }
        if (!(signer.keyUsage ?? []).includes(OID_OCSP_SIGNING)) {
          reasons.push('responder certificate lacks the OCSP-signing extended key usage');
          continue;
        }
        if (Date.parse(signer.validFrom) > now || Date.parse(signer.validTo) < now) {
          reasons.push('responder certificate is not valid now');
          continue;
        }
      }
      if (verifyAlgorithmSignature(basic.signatureAlgorithm, data, sig, signer.publicKey)) return;
      reasons.push('signature does not verify');
    }
    throw new OcspError('invalid', `OCSP response from ${ctx.url} is not signed by the issuer or an authorised responder${reasons.length ? ` (${reasons.join('; ')})` : ''}`);
  }
}
