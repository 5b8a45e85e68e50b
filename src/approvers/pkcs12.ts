// The approver's PKCS#12 (spec multi-authorization §5, "Onboarding crypto"): private key + self-signed
// certificate, container and key both protected by the backup password, friendly name = approverName,
// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, SHA-256 MAC (what `openssl pkcs12` opens by default).
import { webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

const OID_KEY_BAG = '1.2.840.113549.1.12.10.1.2'; // pkcs8ShroudedKeyBag
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const OID_X509_CERT = '1.2.840.113549.1.9.22.1';
const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';

const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'] });

export interface Pkcs12Input {
  /** DER PKCS#8 private key. */
  privateKey: Buffer;
  /** DER X.509 certificate of that key. */
  certificate: Buffer;
  friendlyName: string;
  password: string;
  iterations?: number;
}

const ab = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

function bagAttributes(friendlyName: string, localKeyId: ArrayBuffer): pkijs.Attribute[] {
  return [
    new pkijs.Attribute({ type: OID_FRIENDLY_NAME, values: [new asn1js.BmpString({ value: friendlyName })] }),
    new pkijs.Attribute({ type: OID_LOCAL_KEY_ID, values: [new asn1js.OctetString({ valueHex: localKeyId })] }),
  ];
}

/** Builds the DER PKCS#12 (RFC 7292) with password integrity and PBES2 privacy for both bags. */
export async function buildPkcs12(input: Pkcs12Input): Promise<Buffer> {
  const iterations = input.iterations ?? 10000;
  const password = ab(Buffer.from(input.password, 'utf8'));
  const keyInfo = pkijs.PrivateKeyInfo.fromBER(ab(input.privateKey));
  const cert = pkijs.Certificate.fromBER(ab(input.certificate));
  // localKeyId ties the key bag to its certificate bag: SHA-1 of the certificate, as OpenSSL writes it.
  const localKeyId = await engine.digest({ name: 'SHA-1' }, ab(input.certificate));
  const pbes2 = { password, contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 }, hmacHashAlgorithm: 'SHA-256', iterationCount: iterations };

  const keyBag = new pkijs.PKCS8ShroudedKeyBag({ parsedValue: keyInfo });
  await keyBag.makeInternalValues(pbes2, engine);
  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0,
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            {
              privacyMode: 0,
              value: new pkijs.SafeContents({
                safeBags: [new pkijs.SafeBag({ bagId: OID_KEY_BAG, bagValue: keyBag, bagAttributes: bagAttributes(input.friendlyName, localKeyId) })],
              }),
            },
            {
              privacyMode: 1,
              value: new pkijs.SafeContents({
                safeBags: [
                  new pkijs.SafeBag({
                    bagId: OID_CERT_BAG,
                    bagValue: new pkijs.CertBag({ certId: OID_X509_CERT, parsedValue: cert }),
                    bagAttributes: bagAttributes(input.friendlyName, localKeyId),
                  }),
                ],
              }),
            },
          ],
        },
      }),
    },
  });
  const safe = pfx.parsedValue?.authenticatedSafe;
  if (!safe) throw new Error('PKCS#12: authenticated safe missing');
  await safe.makeInternalValues({ safeContents: [{}, pbes2] }, engine);
  await pfx.makeInternalValues({ password, iterations, pbkdf2HashAlgorithm: 'SHA-256', hmacHashAlgorithm: 'SHA-256' }, engine);
  return Buffer.from(pfx.toSchema().toBER(false));
}
