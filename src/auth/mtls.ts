// Mutual TLS as an authentication method (spec multi-authorization §6.4, README decision 4): the
// client certificate the TLS layer verified becomes the credential (subject + SHA-256 fingerprint),
// optionally mapped to roles, and — when OCSP is on — is checked for revocation on every request.
import { TLSSocket, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config, RoleName } from '../config/schema.ts';
import { WardenError } from '../server/errors.ts';
import { certFingerprint, oneLineDn } from './files.ts';
import { OcspChecker, OcspError } from './ocsp.ts';
import type { Credential } from './principal.ts';

interface PeerInfo {
  leaf: X509Certificate;
  issuer: X509Certificate;
  credential: Credential;
}

/** A mapping entry: by fingerprint, by CN alone, or by the full one-line subject DN. */
type Matcher = { kind: 'fingerprint'; value: string } | { kind: 'cn'; value: string } | { kind: 'dn'; value: string };

function normalizeDn(dn: string): string {
  return dn
    .split(',')
    .map((p) => p.trim().replace(/\s*=\s*/, '='))
    .join(',');
}

function matcherOf(key: string): Matcher {
  const fp = /^sha256:([0-9a-fA-F:]+)$/.exec(key.trim());
  if (fp) return { kind: 'fingerprint', value: 'sha256:' + fp[1].replace(/:/g, '').toLowerCase() };
  const dn = normalizeDn(key.trim());
  if (/^CN=[^,]*$/.test(dn)) return { kind: 'cn', value: dn.slice(3) };
  return { kind: 'dn', value: dn };
}

export class MtlsAuthenticator {
  private readonly peers = new WeakMap<TLSSocket, PeerInfo>();
  private readonly mapping: { matcher: Matcher; roles: RoleName[] }[];
  readonly ocsp: OcspChecker | null;

  constructor(
    private readonly cfg: Config['tls'],
    private readonly logger: Logger,
  ) {
    this.mapping = Object.entries(cfg.clientCertificateRoles).map(([k, roles]) => ({ matcher: matcherOf(k), roles }));
    const o = cfg.ocsp;
    this.ocsp = o.enabled
      ? new OcspChecker({ responderUrl: o.responderUrl, timeoutMs: o.timeoutMs, cacheSeconds: o.cacheSeconds, requireNonce: o.requireNonce, cacheSize: o.cacheSize })
      : null;
  }

  /** Is this method active at all (an HTTPS listener that asks for client certificates)? */
  get enabled(): boolean {
    return this.cfg.enabled && this.cfg.clientAuthentication !== 'none';
  }

  private rolesOf(leaf: X509Certificate, fingerprint: string): RoleName[] | null {
    if (this.mapping.length === 0) return null;
    const dn = normalizeDn(oneLineDn(leaf.subject));
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1];
    const roles = new Set<RoleName>();
    for (const { matcher, roles: r } of this.mapping) {
      const hit = matcher.kind === 'fingerprint' ? matcher.value === fingerprint : matcher.kind === 'cn' ? matcher.value === cn : matcher.value === dn;
      if (hit) r.forEach((x) => roles.add(x));
    }
    return [...roles];
  }

  /** Certificate facts are computed once per TLS connection (keep-alive reuses them). */
  private peerInfo(socket: TLSSocket): PeerInfo | null {
    const known = this.peers.get(socket);
    if (known) return known;
    const peer = socket.getPeerCertificate(true) as DetailedPeerCertificate | PeerCertificate;
    if (!peer || !peer.raw) return null;
    const leaf = new X509Certificate(peer.raw);
    const up = (peer as DetailedPeerCertificate).issuerCertificate;
    const issuer = up && up.raw && !up.raw.equals(peer.raw) ? new X509Certificate(up.raw) : leaf;
    const fingerprint = certFingerprint(leaf);
    const subject = oneLineDn(leaf.subject);
    const info: PeerInfo = {
      leaf,
      issuer,
      credential: { method: 'mtls', subject: `mtls:${subject};${fingerprint}`, roles: this.rolesOf(leaf, fingerprint), certificate: { subject, fingerprint } },
    };
    this.peers.set(socket, info);
    return info;
  }

  /**
   * The client-certificate credential, null when none was presented (allowed with `want`), or 401/402
   * for an untrusted, revoked or unverifiable certificate.
   */
  async authenticate(socket: unknown): Promise<Credential | null> {
    const tls = socket instanceof TLSSocket && socket.encrypted ? socket : null;
    const info = tls ? this.peerInfo(tls) : null;
    if (!tls || !info) {
      // With `need` the handshake already refused such clients; this path is a plain-HTTP or injected call.
      if (this.cfg.clientAuthentication === 'need') throw new WardenError(402, 'A trusted client certificate is required');
      return null;
    }
    if (!tls.authorized) {
      throw new WardenError(402, `Client certificate not trusted: ${String(tls.authorizationError ?? 'unknown issuer')}`);
    }
    if (this.ocsp) await this.checkRevocation(info);
    return info.credential;
  }

  private async checkRevocation(info: PeerInfo): Promise<void> {
    const ocsp = this.ocsp as OcspChecker;
    if (info.issuer === info.leaf) {
      // A pinned self-signed client certificate has no issuer to ask; treat it as unreachable.
      return this.onUnavailable(info, new OcspError('unavailable', 'self-signed client certificate: no OCSP issuer'));
    }
    let result;
    try {
      result = await ocsp.status(info.leaf, info.issuer);
    } catch (e) {
      if (e instanceof OcspError && e.kind === 'unavailable') return this.onUnavailable(info, e);
      this.logger.warn({ err: e, certificate: info.credential.certificate }, 'OCSP check failed');
      throw new WardenError(402, `Client certificate revocation check failed: ${(e as Error).message}`);
    }
    if (result.status !== 'good') {
      this.logger.info({ certificate: info.credential.certificate, status: result.status }, 'client certificate refused by OCSP');
      throw new WardenError(402, `Client certificate is ${result.status === 'revoked' ? 'revoked' : 'unknown to its OCSP responder'}`);
    }
  }

  private onUnavailable(info: PeerInfo, e: OcspError): void {
    if (this.cfg.ocsp.failOpen) {
      this.logger.warn({ err: e, certificate: info.credential.certificate }, 'OCSP responder unavailable: accepting (tls.ocsp.failOpen)');
      return;
    }
    throw new WardenError(402, `Client certificate revocation status unavailable: ${e.message}`);
  }
}
