// A throw-away PKI made with the openssl CLI for the mTLS and OCSP tests: root CA → intermediate CA
// (an `openssl ca` database, so revocation lands in index.txt) → server and client certificates, an
// OCSP signing certificate, an unrelated "rogue" signer, an untrusted CA, and a real `openssl ocsp`
// responder on a free loopback port.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface CertFiles {
  crt: string;
  key: string;
  /** PEM: the certificate followed by its issuing intermediate (what a client sends). */
  chain: string;
}

export interface Pki {
  dir: string;
  ocspPort: number;
  root: CertFiles;
  inter: CertFiles;
  server: CertFiles;
  /** Issued by the intermediate via `openssl ca`, AIA → the OCSP responder. */
  client: CertFiles;
  /** Issued directly by the root. */
  clientRoot: CertFiles;
  /** Issued by the intermediate, validity entirely in the past. */
  expired: CertFiles;
  /** Issued by another, untrusted CA. */
  untrusted: CertFiles;
  /** Delegated OCSP responder: issued by the intermediate with the OCSPSigning EKU. */
  ocspSigner: CertFiles;
  /** Self-signed, nothing to do with the PKI. */
  rogue: CertFiles;
  /** Issues another client certificate from the intermediate. */
  issueClient(name: string, opts?: { viaCa?: boolean; ocspUrl?: string; days?: number }): CertFiles;
  revoke(cert: CertFiles): void;
  /** Starts `openssl ocsp` on ocspPort (or `port`); resolves once it accepts connections. */
  startOcsp(opts?: { signer?: 'delegated' | 'issuer' | 'rogue'; port?: number }): Promise<OcspResponder>;
  /** PKCS#12 of a certificate + key under a password. */
  p12(cert: CertFiles, password: string): string;
  cleanup(): void;
}

export interface OcspResponder {
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function openssl(args: string[], cwd?: string): string {
  return execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A loopback port nothing listens on right now (for tools that need a fixed port). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Waits for `openssl ocsp` to print its ACCEPT line. (Probing the port with an empty connection is not
 * an option: OpenSSL 3.0's responder spins at full CPU after a connection that sends no request.)
 */
async function waitForListening(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`openssl ocsp did not start: ${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/ACCEPT|waiting for OCSP client connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`openssl ocsp exited with ${code}: ${out}`));
    });
  });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

export async function createPki(): Promise<Pki> {
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-pki-'));
  const p = (f: string) => path.join(dir, f);
  const ocspPort = await freePort();
  const ocspUrl = `http://127.0.0.1:${ocspPort}`;

  writeFileSync(
    p('ext.cnf'),
    `[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityInfoAccess = OCSP;URI:${ocspUrl}
[ocsp_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,OCSPSigning
`,
  );
  // The intermediate's `openssl ca` database: issued and revoked certificates for the OCSP responder.
  writeFileSync(p('index.txt'), '');
  writeFileSync(p('serial'), '1000\n');
  writeFileSync(
    p('ca.cnf'),
    `[ca]
default_ca = inter
[inter]
dir = ${dir}
database = ${p('index.txt')}
serial = ${p('serial')}
new_certs_dir = ${dir}
certificate = ${p('inter.crt')}
private_key = ${p('inter.key')}
default_md = sha256
default_days = 30
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityInfoAccess = OCSP;URI:${ocspUrl}
`,
  );

  const files = (name: string, withChainOf?: string): CertFiles => {
    const f = { crt: p(`${name}.crt`), key: p(`${name}.key`), chain: p(`${name}-chain.pem`) };
    writeFileSync(f.chain, readFileSync(f.crt, 'utf8') + (withChainOf ? readFileSync(p(`${withChainOf}.crt`), 'utf8') : ''));
    return f;
  };
  const selfSigned = (name: string, cn: string, ext = 'ca_ext') => {
    openssl(['req', '-x509', ...EC, '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.crt`), '-subj', `/CN=${cn}`, '-days', '30', '-config', p('ext.cnf'), '-extensions', ext]);
    return files(name);
  };
  const signed = (name: string, cn: string, issuer: string, ext: string, days = 30) => {
    openssl(['req', '-new', ...EC, '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`]);
    openssl(['x509', '-req', '-in', p(`${name}.csr`), '-CA', p(`${issuer}.crt`), '-CAkey', p(`${issuer}.key`), '-CAcreateserial', '-out', p(`${name}.crt`), '-days', String(days), '-sha256', '-extfile', p('ext.cnf'), '-extensions', ext]);
    return files(name, issuer === 'root' ? undefined : issuer);
  };
  const viaCa = (name: string, cn: string, extra: string[] = []) => {
    openssl(['req', '-new', ...EC, '-nodes', '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`]);
    openssl(['ca', '-batch', '-notext', '-config', p('ca.cnf'), '-extensions', 'client_ext', '-in', p(`${name}.csr`), '-out', p(`${name}.crt`), ...extra]);
    return files(name, 'inter');
  };

  const root = selfSigned('root', 'Warden Test Root CA');
  const inter = signed('inter', 'Warden Test Intermediate CA', 'root', 'ca_ext');
  const server = signed('server', 'localhost', 'inter', 'server_ext');
  const client = viaCa('client', 'warden-client');
  const clientRoot = signed('client-root', 'client-root', 'root', 'client_ext');
  const expired = viaCa('expired', 'expired-client', ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z']);
  const ocspSigner = signed('ocsp', 'Warden Test OCSP Responder', 'inter', 'ocsp_ext');
  const rogue = selfSigned('rogue', 'Rogue OCSP Responder', 'ocsp_ext');
  selfSigned('other-root', 'Untrusted Root CA');
  const untrusted = signed('untrusted', 'warden-client', 'other-root', 'client_ext');

  const responders = new Set<ChildProcess>();

  return {
    dir, ocspPort, root, inter, server, client, clientRoot, expired, untrusted, ocspSigner, rogue,
    issueClient(name, opts = {}) {
      if (opts.viaCa === false) return signed(name, name, 'inter', 'client_ext', opts.days ?? 30);
      return viaCa(name, name);
    },
    revoke(cert) {
      openssl(['ca', '-config', p('ca.cnf'), '-revoke', cert.crt]);
    },
    async startOcsp(opts = {}) {
      const signer = opts.signer ?? 'delegated';
      const port = opts.port ?? ocspPort;
      const [crt, key] = signer === 'issuer' ? [inter.crt, inter.key] : signer === 'rogue' ? [rogue.crt, rogue.key] : [ocspSigner.crt, ocspSigner.key];
      const child = spawn('openssl', ['ocsp', '-index', p('index.txt'), '-port', String(port), '-rsigner', crt, '-rkey', key, '-CA', inter.crt, '-nmin', '5', '-ignore_err'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      responders.add(child);
      await waitForListening(child);
      return {
        port,
        process: child,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await exited;
          }
          responders.delete(child);
        },
      };
    },
    p12(cert, password) {
      const out = cert.crt.replace(/\.crt$/, '.p12');
      openssl(['pkcs12', '-export', '-in', cert.chain, '-inkey', cert.key, '-out', out, '-passout', `pass:${password}`]);
      return out;
    },
    cleanup() {
      for (const c of responders) if (c.exitCode === null) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
