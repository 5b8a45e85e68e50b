// Onboarding in the browser (spec multi-authorization §5): the console makes a random 32-byte transport
// password, sends it with the one-time code, decrypts the AES-GCM answer, opens the PKCS#12 with the
// backup password (PBES2 / PBKDF2-SHA256 / AES-256-CBC, via pkijs on WebCrypto) and keeps the key as a
// non-extractable CryptoKey. The private key bytes live only in this function's memory.
import * as pkijs from 'pkijs';
import { call, ConsoleError } from './api.ts';
import { fromB64, utf8 } from './bytes.ts';
import { importOnboarded, type Identity } from './identity.ts';

const OID_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const OID_CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const OID_RSA = '1.2.840.113549.1.1.1';

/** 32 random characters from an ASCII alphabet: 32 UTF-8 bytes, the AES-256 transport key. */
export function newTransportPassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const out: string[] = [];
  while (out.length < 32) {
    for (const b of crypto.getRandomValues(new Uint8Array(64))) {
      if (b < 4 * alphabet.length && out.length < 32) out.push(alphabet[b % alphabet.length]);
    }
  }
  return out.join('');
}

const ab = (u: Uint8Array): ArrayBuffer => u.slice().buffer;

interface Opened {
  pkcs8: Uint8Array<ArrayBuffer>;
  certificate: Uint8Array;
  spki: Uint8Array;
  algorithm: 'EC' | 'RSA';
}

async function openPkcs12(p12: Uint8Array, password: string): Promise<Opened> {
  const pw = ab(utf8(password));
  const pfx = pkijs.PFX.fromBER(ab(p12));
  try {
    await pfx.parseInternalValues({ password: pw, checkIntegrity: true });
  } catch {
    throw new ConsoleError('The backup password does not open the key you received. Check it and try again with a new one-time code.', 0, null);
  }
  const safe = pfx.parsedValue?.authenticatedSafe;
  if (!safe) throw new ConsoleError('The key container is not a PKCS#12 file.', 0, null);
  const n = safe.safeContents.length;
  await safe.parseInternalValues({ safeContents: Array.from({ length: n }, () => ({ password: pw })) });
  let pkcs8: Uint8Array<ArrayBuffer> | null = null;
  let certificate: pkijs.Certificate | null = null;
  for (const sc of safe.parsedValue?.safeContents ?? []) {
    for (const bag of sc.value.safeBags) {
      if (bag.bagId === OID_KEY_BAG) {
        const kb = bag.bagValue as pkijs.PKCS8ShroudedKeyBag;
        // parseInternalValues is protected in the typings but is the documented way to decrypt the bag.
        await (kb as unknown as { parseInternalValues(p: { password: ArrayBuffer }): Promise<void> }).parseInternalValues({ password: pw });
        if (kb.parsedValue) pkcs8 = new Uint8Array(kb.parsedValue.toSchema().toBER(false));
      } else if (bag.bagId === OID_CERT_BAG) {
        certificate = (bag.bagValue as pkijs.CertBag).parsedValue as pkijs.Certificate;
      }
    }
  }
  if (!pkcs8 || !certificate) throw new ConsoleError('The key container holds no key or no certificate.', 0, null);
  const spkiInfo = certificate.subjectPublicKeyInfo;
  return {
    pkcs8,
    certificate: new Uint8Array(certificate.toSchema().toBER(false)),
    spki: new Uint8Array(spkiInfo.toSchema().toBER(false)),
    algorithm: spkiInfo.algorithm.algorithmId === OID_RSA ? 'RSA' : 'EC',
  };
}

export async function onboard(approverName: string, oneTimeCode: string, backupPassword: string, apiKey: string | null): Promise<Identity> {
  const transportPassword = newTransportPassword();
  const res = await call<{ encryptedPayload: string; initializationVector: string }>(
    '/v1/approver/onboard',
    { approverName, oneTimeCode: [...oneTimeCode], transportPassword: [...transportPassword] },
    apiKey,
  );
  const key = await crypto.subtle.importKey('raw', utf8(transportPassword), 'AES-GCM', false, ['decrypt']);
  let p12: Uint8Array;
  try {
    p12 = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromB64(res.initializationVector) }, key, fromB64(res.encryptedPayload)));
  } catch {
    throw new ConsoleError('The onboarding answer did not decrypt: try again with a new one-time code.', 0, null);
  }
  const opened = await openPkcs12(p12, backupPassword);
  try {
    return await importOnboarded(approverName, opened.pkcs8, opened.spki, opened.certificate, opened.algorithm);
  } finally {
    opened.pkcs8.fill(0);
  }
}
