// node:crypto plumbing shared by the signature families: KeyObjects cached per opened key buffer, and
// crypto.sign / crypto.verify in their callback form, which runs on libuv's threadpool instead of the
// event loop (RSA private operations take milliseconds).
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject, type SignKeyObjectInput, type VerifyKeyObjectInput } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import type { SignatureKey } from './types.ts';

const privateObjects = new WeakMap<Buffer, KeyObject>();
const publicObjects = new WeakMap<Buffer, KeyObject>();

/** The private KeyObject of a key; 613 for a key that has no private part (public-only imports). */
export function privateKeyObject(key: SignatureKey): KeyObject {
  const der = key.material.privateKey;
  if (!der) throw new WardenError(613, 'The key has no private part (public-key or certificate import): it can verify but not sign');
  let obj = privateObjects.get(der);
  if (!obj) {
    obj = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    privateObjects.set(der, obj);
  }
  return obj;
}

export function publicKeyObject(key: SignatureKey): KeyObject {
  const der = key.material.publicKey;
  if (!der) throw new WardenError(613, 'The key has no public part');
  let obj = publicObjects.get(der);
  if (!obj) {
    obj = createPublicKey({ key: der, format: 'der', type: 'spki' });
    publicObjects.set(der, obj);
  }
  return obj;
}

export function privateDer(key: SignatureKey): Buffer {
  const der = key.material.privateKey;
  if (!der) throw new WardenError(613, 'The key has no private part (public-key or certificate import): it can verify but not sign');
  return der;
}

export function publicDer(key: SignatureKey): Buffer {
  const der = key.material.publicKey;
  if (!der) throw new WardenError(613, 'The key has no public part');
  return der;
}

/** crypto.sign on the threadpool. */
export function signAsync(algorithm: string | null, data: Buffer, key: SignKeyObjectInput | KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign(algorithm, data, key, (err, sig) => (err ? reject(err) : resolve(sig)));
  });
}

/** crypto.verify on the threadpool; an OpenSSL error on a malformed signature counts as "not valid". */
export function verifyAsync(algorithm: string | null, data: Buffer, key: VerifyKeyObjectInput | KeyObject, signature: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      verify(algorithm, data, key, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}
