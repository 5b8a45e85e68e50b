// The HTTPS listener (spec multi-authorization §6.4): server certificate from PEM or PKCS#12, TLS 1.2+
// only, and client certificates requested per tls.clientAuthentication — `need` fails the handshake
// without a trusted certificate, `want` lets the auth chain decide (README decision 4).
import https from 'node:https';
import type { Server } from 'node:http';
import type { FastifyServerFactory } from 'fastify';
import type { Config } from '../config/schema.ts';
import { CredentialFileError, pemBlocks, readCertificates, readConfigFile } from '../auth/files.ts';

type TlsConfig = Config['tls'];

/** Node TLS server options for the config; throws (failing the start) naming the property at fault. */
export function httpsOptions(tls: TlsConfig): https.ServerOptions {
  const opts: https.ServerOptions = { minVersion: 'TLSv1.2', honorCipherOrder: true };
  if (tls.keyStore) {
    if (tls.certificate || tls.privateKey) throw new CredentialFileError("config property 'tls.keyStore': give either keyStore or certificate + privateKey, not both");
    opts.pfx = readConfigFile('tls.keyStore', tls.keyStore);
    opts.passphrase = tls.keyStorePassword ?? '';
  } else {
    if (!tls.certificate) throw new CredentialFileError("config property 'tls.certificate': required when tls.enabled (or tls.keyStore)");
    if (!tls.privateKey) throw new CredentialFileError("config property 'tls.privateKey': required with tls.certificate");
    const cert = readConfigFile('tls.certificate', tls.certificate).toString('utf8');
    if (!pemBlocks(cert).some((b) => b.label === 'CERTIFICATE')) throw new CredentialFileError(`config property 'tls.certificate': ${tls.certificate} holds no PEM certificate`);
    opts.cert = cert;
    opts.key = readConfigFile('tls.privateKey', tls.privateKey);
    if (tls.privateKeyPassword) opts.passphrase = tls.privateKeyPassword;
  }
  if (tls.clientAuthentication !== 'none') {
    if (tls.trustedCertificates.length === 0) {
      throw new CredentialFileError(`config property 'tls.trustedCertificates': required with tls.clientAuthentication: ${tls.clientAuthentication}`);
    }
    opts.ca = readCertificates('tls.trustedCertificates', tls.trustedCertificates).map((c) => c.toString());
    opts.requestCert = true;
    opts.rejectUnauthorized = tls.clientAuthentication === 'need';
    // A Java trust store treats every listed certificate as an anchor; OpenSSL does so only with the
    // partial-chain flag, which Node exposes from 22.9. Before that, chains must end at a listed root.
    if (supportsPartialTrustChain()) opts.allowPartialTrustChain = true;
  }
  return opts;
}

export function supportsPartialTrustChain(version: string = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 9);
}

/**
 * Start-up warnings for the trust list: a certificate whose issuer is not listed can only be an anchor
 * where partial chains are supported; elsewhere nothing under it is accepted.
 */
export function trustListWarnings(tls: TlsConfig): string[] {
  if (!tls.enabled || tls.clientAuthentication === 'none' || supportsPartialTrustChain()) return [];
  const certs = readCertificates('tls.trustedCertificates', tls.trustedCertificates);
  return certs
    .filter((c) => !certs.some((issuer) => c.checkIssued(issuer) && c.verify(issuer.publicKey)))
    .map((c) => `tls.trustedCertificates: ${c.subject.replace(/\n/g, ',')} is not self-signed and its issuer is not listed: ` +
      `on Node ${process.versions.node} client chains must end at a listed root, so certificates under it are refused`);
}

/** A fastify serverFactory for the HTTPS listener; the options are read (and checked) once, here. */
export function httpsServerFactory(tls: TlsConfig): FastifyServerFactory {
  const options = httpsOptions(tls);
  return (handler) => {
    const server = https.createServer(options, handler);
    // The auth chain reads the client certificate once per connection; a TLS 1.2 renegotiation could
    // swap it mid-connection, so none is allowed (TLS 1.3 has none anyway).
    server.on('secureConnection', (socket) => socket.disableRenegotiation());
    return server as unknown as Server;
  };
}
