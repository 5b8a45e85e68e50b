// Reading the credential files the config names (PEM certificates, keys, PKCS#12, JWKs): Spring-style
// `file:` prefixes are accepted (spec multi-authorization §7.2), and a missing or unreadable file fails
// the start naming the config property.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';

export class CredentialFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialFileError';
  }
}

export function resolveConfigPath(file: string): string {
  return path.resolve(file.replace(/^file:/, ''));
}

export function readConfigFile(property: string, file: string): Buffer {
  try {
    return readFileSync(resolveConfigPath(file));
  } catch (e) {
    throw new CredentialFileError(`config property '${property}': cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

/** Every PEM block of a file, with its label. */
export function pemBlocks(text: string): { label: string; pem: string }[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => ({ label: m[1], pem: m[0] }));
}

/** The certificates of one or more PEM files, in file order; a file without a certificate fails the start. */
export function readCertificates(property: string, files: readonly string[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  files.forEach((file, i) => {
    const blocks = pemBlocks(readConfigFile(`${property}[${i}]`, file).toString('utf8')).filter((b) => b.label === 'CERTIFICATE');
    if (blocks.length === 0) throw new CredentialFileError(`config property '${property}[${i}]': ${file} holds no PEM certificate`);
    for (const b of blocks) {
      try {
        out.push(new X509Certificate(b.pem));
      } catch (e) {
        throw new CredentialFileError(`config property '${property}[${i}]': ${file}: ${(e as Error).message}`);
      }
    }
  });
  return out;
}

/** `sha256:<hex>` fingerprint of a DER certificate, the form used in config mappings and audit records. */
export function certFingerprint(cert: X509Certificate): string {
  return 'sha256:' + cert.fingerprint256.replace(/:/g, '').toLowerCase();
}

/** RFC 4514-like one-line DN from Node's multi-line `subject` ("CN=a\nO=b" → "CN=a,O=b"). */
export function oneLineDn(nodeDn: string): string {
  return nodeDn
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .join(',');
}
