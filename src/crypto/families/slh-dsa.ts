// SLH-DSA keys, all 12 parameter sets of FIPS 205 (spec §2.1). The private key is sealed as PKCS#8
// whose privateKey OCTET STRING holds the raw SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root (RFC 9909 §6);
// generation runs on the PQC worker pool (the "s" sets take a second or more to build their top tree).
import { randomBytes } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import { decodePkcs8, decodeSpki, encodePkcs8, encodeSpki, readTlvSafe } from '../pqc/asn1.ts';
import { SLH_DSA_OIDS, SLH_DSA_SETS, noParams } from '../pqc/keys.ts';
import { SLH_DSA, type SlhDsaSet } from '../pqc/ops.ts';
import { runPqcBytes } from '../pqc/pool.ts';
import type { KeyFamily, KeyMaterial } from './types.ts';

function slhDsa(set: SlhDsaSet): KeyFamily {
  const oid = SLH_DSA_OIDS[set];
  const alg = SLH_DSA[set];
  const name = `SLH-DSA-${set}`;
  const n = (alg.lengths.publicKey as number) / 2;
  const params = { algorithmOid: oid, curveOid: null, keySize: null };
  const fromSecret = (sk: Uint8Array): KeyMaterial => ({
    privateKey: encodePkcs8(oid, sk),
    // PK.seed ‖ PK.root are the last 2n bytes of the secret key (FIPS 205 §9.1).
    publicKey: encodeSpki(oid, sk.subarray(2 * n)),
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
      return fromSecret(await runPqcBytes({ op: 'slhdsa.keygen', set, seed: randomBytes(3 * n) }));
    },
    importMaterial(input) {
      if (input.secret) throw new WardenError(600, `secretKey must be empty for ${name} keys`);
      let material: KeyMaterial | null = null;
      if (input.privateKey) {
        const { oid: got, inner } = decodePkcs8(input.privateKey);
        if (got !== oid) throw new WardenError(613, `privateKey is not an ${name} key (algorithm ${got})`);
        // Tolerate a DER OCTET STRING around the raw key (some encoders nest it).
        const sk = inner.length === 4 * n ? inner : readTlvSafe(inner, 0x04);
        if (!sk || sk.length !== 4 * n) throw new WardenError(625, `${name} private key must be ${4 * n} bytes`);
        material = fromSecret(sk);
      }
      if (input.publicKey) {
        const { oid: got, raw } = decodeSpki(input.publicKey);
        if (got !== oid) throw new WardenError(613, `publicKey is not an ${name} key (algorithm ${got})`);
        if (raw.length !== 2 * n) throw new WardenError(625, `${name} public key must be ${2 * n} bytes`);
        const spki = encodeSpki(oid, raw);
        if (material && !spki.equals(material.publicKey as Buffer)) throw new WardenError(625, 'publicKey does not belong to privateKey');
        material ??= { publicKey: spki };
      }
      if (!material) throw new WardenError(600, `a privateKey, publicKey or certificate is required to import an ${name} key`);
      return { material, params };
    },
  } satisfies KeyFamily);
}

/** One family per parameter set, in the OID order of spec §2.2. */
export const slhDsaFamilies: readonly KeyFamily[] = SLH_DSA_SETS.map(slhDsa);
