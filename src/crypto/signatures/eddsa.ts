// EDDSA: pure Ed25519 (RFC 8032 §5.1) through node:crypto on the threadpool. The signature is the
// 64-byte R‖S for every signatureType (spec §4.1: RAW is identical to DER for EdDSA).
import { WardenError } from '../../server/errors.ts';
import { privateKeyObject, publicKeyObject, signAsync, verifyAsync } from './node.ts';
import { MAX_HASHED_PAYLOAD, type SignatureAlgorithm } from './types.ts';

function check(payload: Buffer): void {
  if (payload.length > MAX_HASHED_PAYLOAD) throw new WardenError(612, `payload is ${payload.length} bytes; EdDSA signs at most ${MAX_HASHED_PAYLOAD} bytes`);
}

export function eddsa(): SignatureAlgorithm {
  return Object.freeze({
    name: 'EDDSA', aliases: [], scheme: 'EDDSA', keyAlgorithms: ['ED'], curves: null,
    hash: null, prehashed: false, deterministic: true, signatureTypes: ['DER', 'RAW'],
    summary: 'Pure Ed25519 (RFC 8032 §5.1); 64-byte R‖S',
    async sign(key, payload) {
      check(payload);
      return signAsync(null, payload, privateKeyObject(key));
    },
    async verify(key, payload, signature) {
      check(payload);
      if (signature.length !== 64) return false;
      return verifyAsync(null, payload, publicKeyObject(key), signature);
    },
  } satisfies SignatureAlgorithm);
}
