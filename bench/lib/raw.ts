// The physical limit next to each Warden row: the same node:crypto operation on the same key material,
// synchronous (one core, back to back) and asynchronous (libuv threadpool or WebCrypto, many in flight:
// every core), measured in the bench process while the server under test is idle.
import { createCipheriv, createHmac, randomBytes, sign, verify, webcrypto, type KeyObject } from 'node:crypto';

export interface RawRate {
  sync: number;
  async: number;
  /** How the async column was measured. */
  asyncVia: string;
}

/** ops/s of `fn` run back to back for `seconds`. */
export function rateSync(fn: () => void, seconds: number): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 10; i++) fn();
    n += 10;
  }
  return n / ((performance.now() - start) / 1000);
}

/** ops/s of a promise-returning operation kept `inFlight` deep for `seconds`. */
export async function rateAsync(fn: () => Promise<unknown>, seconds: number, inFlight = 64): Promise<number> {
  await Promise.all(Array.from({ length: 16 }, fn));
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const lane = async () => {
    while (performance.now() < end) {
      await fn();
      n++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return n / ((performance.now() - start) / 1000);
}

const signCb = (alg: string | null, data: Buffer, key: KeyObject) =>
  new Promise<Buffer>((resolve, reject) => sign(alg, data, key, (e, s) => (e ? reject(e) : resolve(s))));
const verifyCb = (alg: string | null, data: Buffer, key: KeyObject, sig: Buffer) =>
  new Promise<boolean>((resolve, reject) => verify(alg, data, key, sig, (e, ok) => (e ? reject(e) : resolve(ok))));

export async function rawSign(alg: string | null, key: KeyObject, payload: Buffer, seconds: number): Promise<RawRate> {
  return {
    sync: rateSync(() => sign(alg, payload, key), seconds),
    async: await rateAsync(() => signCb(alg, payload, key), seconds),
    asyncVia: 'crypto.sign callback (threadpool)',
  };
}

export async function rawVerify(alg: string | null, key: KeyObject, payload: Buffer, signature: Buffer, seconds: number): Promise<RawRate> {
  return {
    sync: rateSync(() => verify(alg, payload, key, signature), seconds),
    async: await rateAsync(() => verifyCb(alg, payload, key, signature), seconds),
    asyncVia: 'crypto.verify callback (threadpool)',
  };
}

export async function rawAesGcm(secret: Buffer, payload: Buffer, seconds: number): Promise<RawRate> {
  const key = await webcrypto.subtle.importKey('raw', secret, 'AES-GCM', false, ['encrypt']);
  return {
    sync: rateSync(() => {
      const c = createCipheriv('aes-256-gcm', secret, randomBytes(12));
      c.update(payload);
      c.final();
      c.getAuthTag();
    }, seconds),
    async: await rateAsync(() => webcrypto.subtle.encrypt({ name: 'AES-GCM', iv: randomBytes(12) }, key, payload), seconds),
    asyncVia: 'WebCrypto subtle.encrypt (threadpool)',
  };
}

export async function rawHmac(secret: Buffer, payload: Buffer, seconds: number): Promise<RawRate> {
  const key = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return {
    sync: rateSync(() => createHmac('sha256', secret).update(payload).digest(), seconds),
    async: await rateAsync(() => webcrypto.subtle.sign('HMAC', key, payload), seconds),
    asyncVia: 'WebCrypto subtle.sign (threadpool)',
  };
}
