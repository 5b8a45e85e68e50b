// The approver's key in this browser: made here (WebCrypto ECDSA P-256) or taken from the onboarded
// PKCS#12, always imported as non-extractable, and kept in IndexedDB (a CryptoKey survives there as an
// opaque handle: scripts can sign with it but never read it). Signs the proof of possession and approvals.
import { fromB64, p1363ToDer, toB64, utf8 } from './bytes.ts';

export interface Identity {
  name: string;
  kind: 'browser' | 'onboarded';
  algorithm: 'EC' | 'RSA';
  privateKey: CryptoKey;
  /** Base64 DER SubjectPublicKeyInfo: the approver identity policies and tasks use. */
  spki: string;
  /** Base64 DER certificate (onboarded approvers). */
  certificate: string | null;
  createdAt: string;
}

const DB = 'warden-approver-console';
const STORE = 'identity';
const KEY = 'current';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB is not available'));
  });
}

async function tx<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const r = fn(db.transaction(STORE, mode).objectStore(STORE));
      r.onsuccess = () => resolve(r.result as T);
      r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
    });
  } finally {
    db.close();
  }
}

export const loadIdentity = async (): Promise<Identity | null> => (await tx<Identity | undefined>('readonly', (s) => s.get(KEY))) ?? null;
export const saveIdentity = (id: Identity): Promise<unknown> => tx('readwrite', (s) => s.put(id, KEY));
export const forgetIdentity = (): Promise<unknown> => tx('readwrite', (s) => s.delete(KEY));

/** A new ECDSA P-256 key made in this browser; the private half can never be exported. */
export async function createBrowserIdentity(name: string): Promise<Identity> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const spki = toB64(await crypto.subtle.exportKey('spki', pair.publicKey));
  return { name, kind: 'browser', algorithm: 'EC', privateKey: pair.privateKey, spki, certificate: null, createdAt: new Date().toISOString() };
}

/** Imports an onboarded approver's PKCS#8 key as non-extractable. */
export async function importOnboarded(name: string, pkcs8: Uint8Array<ArrayBuffer>, spki: Uint8Array, certificate: Uint8Array, algorithm: 'EC' | 'RSA'): Promise<Identity> {
  const params = algorithm === 'RSA' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256' };
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, params, false, ['sign']);
  return { name, kind: 'onboarded', algorithm, privateKey, spki: toB64(spki), certificate: toB64(certificate), createdAt: new Date().toISOString() };
}

/** SHA-256 signature in the JCA encoding of the key type: RSA PKCS#1 v1.5, ECDSA DER (spec §4.2, §4.6). */
export async function signWith(id: Identity, data: Uint8Array<ArrayBuffer>): Promise<string> {
  if (id.algorithm === 'RSA') return toB64(await crypto.subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, id.privateKey, data));
  const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, id.privateKey, data));
  return toB64(p1363ToDer(raw));
}

/** The proof of possession of spec §4.2: the current time, signed by this key. */
export async function proofOf(id: Identity): Promise<Record<string, string>> {
  const timestamp = new Date().toISOString();
  return { timestamp, timestampSignature: await signWith(id, utf8(timestamp)), timestampDigestAlgorithm: 'SHA-256', approverPublicKey: id.spki };
}

export async function approvalOf(id: Identity, taskId: string, approvalToBeSigned: string): Promise<Record<string, string>> {
  return {
    id: taskId,
    approvalToBeSigned,
    signature: await signWith(id, fromB64(approvalToBeSigned)),
    approvalDigestAlgorithm: 'SHA-256',
    approverPublicKey: id.spki,
  };
}
