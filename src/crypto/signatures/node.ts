// node:crypto plumbing shared by the signature families: KeyObjects cached per opened key buffer, and
// crypto.sign / crypto.verify in their callback form, which runs on libuv's threadpool instead of the
// event loop (RSA private operations take milliseconds).
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject, type SignKeyObjectInput, type VerifyKeyObjectInput } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import type { SignatureKey } from './types.ts';

/**
 * KeyObjects per key, used in turn. Node's crypto jobs lock a KeyObject's key while they use it (and
 * the event loop takes the same lock to start the next job), so one KeyObject serialises the threadpool
 * on a busy key and stalls the loop; one per threadpool thread lets the operations of one key run side
 * by side (docs/performance.md). Grown with use: a key used once costs one parse.
 */
const OBJECTS_PER_KEY = Math.max(1, Math.min(16, Number(process.env.UV_THREADPOOL_SIZE) || 4));

type Pool = { objects: KeyObject[]; next: number; uses: number };
/** Uses between two added objects: a key used now and then keeps one (a parse costs ~50 µs). */
const GROW_EVERY = 16;
const privateObjects = new WeakMap<Buffer, Pool>();
const publicObjects = new WeakMap<Buffer, Pool>();

function pooled(pools: WeakMap<Buffer, Pool>, der: Buffer, make: () => KeyObject): KeyObject {
  let pool = pools.get(der);
  if (!pool) {
    pool = { objects: [make()], next: 0, uses: 0 };
    pools.set(der, pool);
  } else if (++pool.uses % GROW_EVERY === 0 && pool.objects.length < OBJECTS_PER_KEY) {
    pool.objects.push(make());
  }
  pool.next = (pool.next + 1) % pool.objects.length;
  return pool.objects[pool.next] as KeyObject;
}

/** The private KeyObject of a key; 613 for a key that has no private part (public-only imports). */
export function privateKeyObject(key: SignatureKey): KeyObject {
  const der = key.material.privateKey;
  if (!der) throw new WardenError(613, 'The key has no private part (public-key or certificate import): it can verify but not sign');
  return pooled(privateObjects, der, () => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
}

export function publicKeyObject(key: SignatureKey): KeyObject {
  const der = key.material.publicKey;
  if (!der) throw new WardenError(613, 'The key has no public part');
  return pooled(publicObjects, der, () => createPublicKey({ key: der, format: 'der', type: 'spki' }));
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
