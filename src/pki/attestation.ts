// Key attestation: the attestation XML of spec §2.4 for a key, signed (RSA PKCS#1 v1.5, SHA-256) by
// the attestation key that Warden creates at first start, plus that key's self-signed certificate
// and the downloadable attestation zip. Format documented in docs/attestation.md.
import { createPrivateKey, createPublicKey, sign as nodeSign } from 'node:crypto';
import { zipSync, strToU8 } from 'fflate';
import { rsa } from '../crypto/families/rsa.ts';
import type { KeyInfo, KeyStore } from '../keystore/interface.ts';
import { subtle, x509 } from './x509.ts';
import { addDays, encodeName, issueCertificate, keyIdentifier, randomSerial, standardExtensions, wholeSeconds } from './certificates.ts';
import { withSigner } from './signer.ts';
import { encodeTlv, readTlv } from '../crypto/signatures/der.ts';
import { policyXml } from '../workflow/policy-xml.ts';
import { addressTruncatedOf } from '../crypto/addresses/index.ts';
import { derivedAttributesOf } from '../crypto/derivation/keys.ts';

const isoSeconds = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Renders the attestation XML (element names snake_case as in the TSB samples). */
export function attestationXml(info: KeyInfo, attestTime: string): string {
  const a = info.attributes;
  const el = (name: string, value: string | number | boolean) => `  <${name}>${xmlEscape(String(value))}</${name}>\n`;
  const attr = (name: string, value: boolean) => `    <${name}>${value}</${name}>\n`;
  const root = info.keyClass === 'private' || info.keyClass === 'secret' ? (info.keyClass === 'secret' ? 'secret_key' : 'private_key') : 'public_key';
  let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<${root} creation="${info.creation}">\n`;
  xml += el('label', info.label);
  xml += el('create_time', info.createTime);
  xml += el('attest_time', attestTime);
  xml += el('key_use_count', info.useCount);
  xml += el('algorithm', info.algorithm);
  xml += el('algorithm_oid', info.algorithmOid);
  if (info.curveOid) xml += el('curve_oid', info.curveOid);
  if (info.keySize !== null) xml += el('key_size', info.keySize);
  if (info.publicKey) xml += el('public_key', info.publicKey.toString('base64'));
  // Issue 5: address of SKA keys and chain code of BIP-32/SLIP-10 keys, as in the spec §2.4 sample.
  const address = addressTruncatedOf(info);
  if (address) xml += `  <address_truncated format="${xmlEscape(address.format)}">${address.address}</address_truncated>\n`;
  const derived = derivedAttributesOf(info);
  if (derived) xml += `  <derivation_value type="${xmlEscape(derived.derivationType)}">${derived.derivationValue}</derivation_value>\n`;
  xml += '  <attributes>\n';
  xml += attr('decrypt', a.decrypt) + attr('sign', a.sign) + attr('unwrap', a.unwrap) + attr('derive', a.derive);
  xml += attr('sensitive', a.sensitive) + attr('always_sensitive', a.alwaysSensitive) + attr('extractable', a.extractable);
  xml += attr('never_extractable', a.neverExtractable) + attr('modifiable', a.modifiable) + attr('copyable', a.copyable);
  xml += attr('destroyable', a.destroyable);
  xml += '  </attributes>\n';
  xml += policyXml(info.policy);
  xml += `</${root}>\n`;
  return xml;
}

export interface AttestationResult {
  xml: string;
  signature: string;
  attestTime: string;
  keyName: string;
}

export class Attestation {
  private certificateDer: Buffer | null = null;

  constructor(
    private readonly keystore: KeyStore,
    readonly keyName: string,
  ) {}

  /** Creates the attestation key and its self-signed certificate on first start. */
  async ensureKey(): Promise<void> {
    let info = await this.keystore.peek(this.keyName);
    if (!info) {
      info = await this.keystore.create({
        label: this.keyName,
        family: rsa,
        params: rsa.resolve({ keySize: 2048 }),
        attributes: {
          encrypt: false, decrypt: false, verify: true, sign: true, wrap: false, unwrap: false, derive: false, bip32: false, slip10: false,
          extractable: false, modifiable: false, destroyable: false, sensitive: true, copyable: false, alwaysSensitive: true, neverExtractable: true,
        },
        password: null,
        creation: 'generated',
        system: true,
      });
    }
    if (!info.system) throw new Error(`hsm.attestationKeyName '${this.keyName}' names an ordinary key; choose another name`);
    this.certificateDer = info.certificate ?? (await this.issueCertificate());
  }

  private async issueCertificate(): Promise<Buffer> {
    const der = this.keystore.type === 'pkcs11' ? await this.issueCertificateOnToken() : await this.keystore.use(this.keyName, null, 'attest', async ({ material, info }) => {
      const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
      const privateKey = await subtle.importKey('pkcs8', material.privateKey as Buffer, alg, false, ['sign']);
      const publicKey = await subtle.importKey('spki', info.publicKey as Buffer, alg, true, ['verify']);
      const now = new Date();
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: Buffer.from(info.createTime).toString('hex').slice(0, 16),
        name: `CN=Warden attestation key ${this.keyName}, O=Warden`,
        notBefore: new Date(now.getTime() - 60_000),
        notAfter: new Date(now.getTime() + 20 * 365 * 24 * 3600 * 1000),
        signingAlgorithm: alg,
        keys: { privateKey, publicKey },
        extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
      });
      return Buffer.from(cert.rawData);
    }, { system: true });
    await this.keystore.setCertificate(this.keyName, der);
    return der;
  }

  /**
   * The PKCS#11 keystore's attestation key lives on the token: WebCrypto cannot hold it, so the
   * self-signed certificate is built by Warden's own DER encoder and signed on the token (src/pki/signer.ts).
   */
  private issueCertificateOnToken(): Promise<Buffer> {
    return withSigner(this.keystore, this.keyName, null, 'SHA256_WITH_RSA', async (signer) => {
      const spki = signer.info.publicKey as Buffer;
      const keyId = keyIdentifier(spki);
      // The same subject as the software keystore's certificate: CN first, then O (encodeName orders by its table, O before CN).
      const rdns = (n: Buffer) => readTlv(n).value;
      const name = encodeTlv(0x30, Buffer.concat([rdns(encodeName({ commonName: `Warden attestation key ${this.keyName}` })), rdns(encodeName({ organizationName: 'Warden' }))]));
      const now = wholeSeconds();
      return issueCertificate({
        serial: randomSerial(), issuer: name, subject: name, notBefore: addDays(now, 0), notAfter: addDays(now, 20 * 365), spki,
        extensions: standardExtensions({ keyUsage: ['DIGITAL_SIGNATURE'], extendedKeyUsage: [], subjectKeyId: keyId, authorityKeyId: keyId }),
      }, signer);
    }, { system: true });
  }

  async attest(info: KeyInfo): Promise<AttestationResult> {
    const attestTime = isoSeconds();
    const xml = attestationXml(info, attestTime);
    const signature = await this.keystore.use(this.keyName, null, 'attest', ({ material }) =>
      material.token
        ? material.token.sign({ name: 'RSA_PKCS1', hash: 'sha256' }, Buffer.from(xml, 'utf8'))
        : nodeSign('sha256', Buffer.from(xml, 'utf8'), createPrivateKey({ key: material.privateKey as Buffer, format: 'der', type: 'pkcs8' })),
    { system: true });
    return { xml, signature: signature.toString('base64'), attestTime, keyName: this.keyName };
  }

  certificateChain(): Buffer[] {
    if (!this.certificateDer) throw new Error('attestation key not initialised');
    return [this.certificateDer];
  }

  publicKeyPem(): string {
    const cert = new x509.X509Certificate(this.certificateChain()[0]);
    return createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }) as string;
  }

  certificatePem(): string {
    return new x509.X509Certificate(this.certificateChain()[0]).toString('pem') + '\n';
  }

  /** The key-attestation zip of spec §3.11. */
  async zip(info: KeyInfo): Promise<Buffer> {
    const att = await this.attest(info);
    const base = info.label.replace(/[^A-Za-z0-9._-]/g, '_');
    const readme =
      `# Warden key attestation for '${info.label}'\n\n` +
      `${base}.xml is the attestation of the key, ${base}.sig its RSA PKCS#1 v1.5 SHA-256 signature by the\n` +
      `attestation key '${this.keyName}', whose public key is ${base}.pem and whose certificate is\n` +
      `Warden_Attestation.crt. Verify with:\n\n    openssl dgst -sha256 -verify ${base}.pem -signature ${base}.sig ${base}.xml\n`;
    return Buffer.from(
      zipSync({
        [`${base}.xml`]: strToU8(att.xml),
        [`${base}.sig`]: new Uint8Array(Buffer.from(att.signature, 'base64')),
        [`${base}.pem`]: strToU8(this.publicKeyPem()),
        'Warden_Attestation.crt': strToU8(this.certificatePem()),
        'README_Warden_Attestation.md': strToU8(readme),
      }),
    );
  }
}
