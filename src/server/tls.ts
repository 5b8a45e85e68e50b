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
  const opts: https.ServerOptions = {
    minVersion: 'TLSv1.2',
    // Renegotiation is a DoS lever and nothing here needs it.
    honorCipherOrder: true,
  };
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
    // The trust list may hold intermediates or pinned client certificates without their root (as a
    // Java trust store does): any listed certificate is a trust anchor.
    opts.allowPartialTrustChain = true;
  }
  return opts;
}

/** A fastify serverFactory for the HTTPS listener; the options are read (and checked) once, here. */
export function httpsServerFactory(tls: TlsConfig): FastifyServerFactory {
  const options = httpsOptions(tls);
  return (handler) => https.createServer(options, handler) as unknown as Server;
}
