// ML-DSA-44/65/87 keys (FIPS 204; spec §2.1). Private keys are sealed as PKCS#8 holding the 32-byte
// seed (RFC 9881 §6 "seed" CHOICE); imports may also carry the expanded key or both, and are checked.
import { randomBytes } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import { decodePkcs8, decodeSeedChoice, decodeSpki, encodePkcs8, encodeSeed, encodeSpki, encodeTlv } from '../pqc/asn1.ts';
import { ML_DSA_OIDS, noParams } from '../pqc/keys.ts';
import { ML_DSA, type MlDsaLevel } from '../pqc/ops.ts';
import type { KeyFamily, KeyMaterial } from './types.ts';

function mlDsa(level: MlDsaLevel): KeyFamily {
  const oid = ML_DSA_OIDS[level];
  const alg = ML_DSA[level];
  const name = `ML-DSA-${level}`;
  const params = { algorithmOid: oid, curveOid: null, keySize: null };
  const fromSeed = (seed: Uint8Array): KeyMaterial => ({
    privateKey: encodePkcs8(oid, encodeSeed(seed)),
    publicKey: encodeSpki(oid, alg.keygen(seed).publicKey),
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
      return fromSeed(randomBytes(32));
    },
    importMaterial(input) {
      if (input.secret) throw new WardenError(600, `secretKey must be empty for ${name} keys`);
      let material: KeyMaterial | null = null;
      if (input.privateKey) {
        const { oid: got, inner } = decodePkcs8(input.privateKey);
        if (got !== oid) throw new WardenError(613, `privateKey is not an ${name} key (algorithm ${got})`);
        const { seed, expanded } = decodeSeedChoice(inner);
        if (seed) {
          if (seed.length !== 32) throw new WardenError(625, `${name} seed must be 32 bytes`);
          material = fromSeed(seed);
          if (expanded && !Buffer.from(alg.keygen(seed).secretKey).equals(expanded)) {
            throw new WardenError(625, `${name} privateKey: the expanded key does not belong to the seed`);
          }
        } else if (expanded) {
          if (expanded.length !== alg.lengths.secretKey) throw new WardenError(625, `${name} expanded private key must be ${alg.lengths.secretKey} bytes`);
          material = { privateKey: encodePkcs8(oid, encodeTlv(0x04, expanded)), publicKey: encodeSpki(oid, alg.getPublicKey(expanded)) };
        }
      }
      if (input.publicKey) {
        const { oid: got, raw } = decodeSpki(input.publicKey);
        if (got !== oid) throw new WardenError(613, `publicKey is not an ${name} key (algorithm ${got})`);
        if (raw.length !== alg.lengths.publicKey) throw new WardenError(625, `${name} public key must be ${alg.lengths.publicKey} bytes`);
        const spki = encodeSpki(oid, raw);
        if (material && !spki.equals(material.publicKey as Buffer)) throw new WardenError(625, 'publicKey does not belong to privateKey');
        material ??= { publicKey: spki };
      }
      if (!material) throw new WardenError(600, `a privateKey, publicKey or certificate is required to import an ${name} key`);
      return { material, params };
    },
  } satisfies KeyFamily);
}

export const mlDsa44 = mlDsa('44');
export const mlDsa65 = mlDsa('65');
export const mlDsa87 = mlDsa('87');
