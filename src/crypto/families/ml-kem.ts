// ML-KEM-512/768/1024 keys (FIPS 203; spec §2.1): encapsulation keys for the ML-KEM wrap methods
// (docs/algorithms.md). Private keys are sealed as PKCS#8 holding the 64-byte seed d ‖ z (RFC 9935
// §6 "seed" CHOICE); imports may carry the expanded decapsulation key or both, and are checked.
import { randomBytes } from 'node:crypto';
import { ml_kem1024, ml_kem512, ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { WardenError } from '../../server/errors.ts';
import { decodePkcs8, decodeSeedChoice, decodeSpki, encodePkcs8, encodeSeed, encodeSpki, encodeTlv } from '../pqc/asn1.ts';
import { ML_KEM_OIDS, noParams, type MlKemLevel } from '../pqc/keys.ts';
import type { KeyFamily, KeyMaterial } from './types.ts';

export const ML_KEM = { '512': ml_kem512, '768': ml_kem768, '1024': ml_kem1024 } as const;

function mlKem(level: MlKemLevel): KeyFamily {
  const oid = ML_KEM_OIDS[level];
  const kem = ML_KEM[level];
  const pkLen = kem.lengths.publicKey as number;
  const name = `ML-KEM-${level}`;
  const params = { algorithmOid: oid, curveOid: null, keySize: null };
  const fromSeed = (seed: Uint8Array): KeyMaterial => ({
    privateKey: encodePkcs8(oid, encodeSeed(seed)),
    publicKey: encodeSpki(oid, kem.keygen(seed).publicKey),
  });
  return Object.freeze({
    algorithm: name,
    reportedAlgorithm: name,
    symmetric: false,
    resolve(input) {
      noParams(name, input);
      return params;
    },
    async generate() {
      return fromSeed(randomBytes(64));
    },
    importMaterial(input) {
      if (input.secret) throw new WardenError(600, `secretKey must be empty for ${name} keys`);
      let material: KeyMaterial | null = null;
      if (input.privateKey) {
        const { oid: got, inner } = decodePkcs8(input.privateKey);
        if (got !== oid) throw new WardenError(613, `privateKey is not an ${name} key (algorithm ${got})`);
        const { seed, expanded } = decodeSeedChoice(inner);
        if (seed) {
          if (seed.length !== 64) throw new WardenError(625, `${name} seed must be 64 bytes`);
          material = fromSeed(seed);
          if (expanded && !Buffer.from(kem.keygen(seed).secretKey).equals(expanded)) {
            throw new WardenError(625, `${name} privateKey: the expanded key does not belong to the seed`);
          }
        } else if (expanded) {
          if (expanded.length !== kem.lengths.secretKey) throw new WardenError(625, `${name} decapsulation key must be ${kem.lengths.secretKey} bytes`);
          // FIPS 203 §7.1: dk = dk_PKE ‖ ek ‖ H(ek) ‖ z; the encapsulation key sits at 384k.
          const k = Number(level) / 256;
          const ek = expanded.subarray(384 * k, 384 * k + pkLen);
          material = { privateKey: encodePkcs8(oid, encodeTlv(0x04, expanded)), publicKey: encodeSpki(oid, ek) };
        }
      }
      if (input.publicKey) {
        const { oid: got, raw } = decodeSpki(input.publicKey);
        if (got !== oid) throw new WardenError(613, `publicKey is not an ${name} key (algorithm ${got})`);
        if (raw.length !== kem.lengths.publicKey) throw new WardenError(625, `${name} public key must be ${kem.lengths.publicKey} bytes`);
        const spki = encodeSpki(oid, raw);
        if (material && !spki.equals(material.publicKey as Buffer)) throw new WardenError(625, 'publicKey does not belong to privateKey');
        material ??= { publicKey: spki };
      }
      if (!material) throw new WardenError(600, `a privateKey, publicKey or certificate is required to import an ${name} key`);
      return { material, params };
    },
  } satisfies KeyFamily);
}

export const mlKem512 = mlKem('512');
export const mlKem768 = mlKem('768');
export const mlKem1024 = mlKem('1024');
