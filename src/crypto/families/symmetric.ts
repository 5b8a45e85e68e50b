// Secret-key families: AES, ChaCha20, Camellia, TDEA (3-key, odd parity) and HMACSHA256.
// algorithmOid values for the non-AES families are ours (spec §2.2 asks only for stable non-null strings).
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { WardenError } from '../../server/errors.ts';
import type { KeyFamily, KeyParams } from './types.ts';

const random = promisify(randomBytes);

interface SecretSpec {
  algorithm: string;
  oid: string;
  sizes: readonly number[];
  defaultSize: number | null;
  /** Reported keySize when the family has none on the wire (TDEA). */
  reportSize: (bits: number) => number | null;
  fixBytes?: (b: Buffer) => Buffer;
}

/** DES keys carry odd parity in the low bit of each byte (FIPS 46-3); OpenSSL ignores it, HSMs check it. */
export function setOddParity(key: Buffer): Buffer {
  const out = Buffer.from(key);
  for (let i = 0; i < out.length; i++) {
    const b = out[i] & 0xfe;
    let ones = 0;
    for (let v = b; v; v >>= 1) ones += v & 1;
    out[i] = b | (ones % 2 === 0 ? 1 : 0);
  }
  return out;
}

function secretFamily(spec: SecretSpec): KeyFamily {
  const params = (bits: number): KeyParams => ({ algorithmOid: spec.oid, curveOid: null, keySize: spec.reportSize(bits) });
  return {
    algorithm: spec.algorithm,
    reportedAlgorithm: spec.algorithm,
    symmetric: true,
    resolve({ keySize }) {
      const size = keySize === undefined || keySize === null || keySize === 0 ? spec.defaultSize : keySize;
      if (size === null) throw new WardenError(603, `keySize is required for ${spec.algorithm} keys (${spec.sizes.join(', ')})`);
      if (!spec.sizes.includes(size)) throw new WardenError(603, `${spec.algorithm} keySize must be one of ${spec.sizes.join(', ')}`);
      return params(size);
    },
    async generate(p) {
      const bits = spec.algorithm === 'TDEA' ? 192 : (p.keySize as number);
      const bytes = await random(bits / 8);
      return { secret: spec.fixBytes ? spec.fixBytes(bytes) : bytes };
    },
    importMaterial(input) {
      if (input.privateKey || input.publicKey) throw new WardenError(600, `only secretKey may be given for ${spec.algorithm} keys`);
      if (!input.secret) throw new WardenError(600, `secretKey is required to import a ${spec.algorithm} key`);
      const bits = input.secret.length * 8;
      if (!spec.sizes.includes(bits)) throw new WardenError(603, `${spec.algorithm} secretKey must be ${spec.sizes.map((s) => s / 8).join(', ')} bytes`);
      return { material: { secret: Buffer.from(input.secret) }, params: params(bits) };
    },
  };
}

export const aes = secretFamily({ algorithm: 'AES', oid: '2.16.840.1.101.3.4.1', sizes: [128, 192, 256], defaultSize: null, reportSize: (b) => b });
export const chacha20 = secretFamily({ algorithm: 'ChaCha20', oid: '1.2.840.113549.1.9.16.3.18', sizes: [256], defaultSize: 256, reportSize: (b) => b });
export const camellia = secretFamily({ algorithm: 'Camellia', oid: '1.2.392.200011.61.1.1.1', sizes: [128, 192, 256], defaultSize: null, reportSize: (b) => b });
export const tdea = secretFamily({ algorithm: 'TDEA', oid: '1.2.840.113549.3.7', sizes: [192], defaultSize: 192, reportSize: () => 192, fixBytes: setOddParity });
export const hmacSha256 = secretFamily({ algorithm: 'HMACSHA256', oid: '1.2.840.113549.2.9', sizes: [128, 192, 256, 384, 512], defaultSize: 256, reportSize: (b) => b });
