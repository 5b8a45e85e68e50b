// The key-wrapping registry: one frozen descriptor per `wrapMethod` of spec §4.6 (wrapping-key
// algorithm, scheme, which keys it can carry). The wire enum and every wrap/unwrap decision come from here.
import { WardenError } from '../../server/errors.ts';

/** What a method wraps: any secret (symmetric) key, or the private key of one asymmetric family. */
export type WrapTarget = 'secret' | 'RSA' | 'EC' | 'ED' | 'DSA' | 'BLS';

export interface WrapMethod {
  readonly name: string;
  /** Algorithm of the wrapping / unwrapping key. */
  readonly wrappingAlgorithm: 'AES' | 'RSA' | 'ML-KEM-512' | 'ML-KEM-768' | 'ML-KEM-1024';
  /** kw = RFC 3394, kwp = RFC 5649, rsa-pkcs1 = RSAES-PKCS1-v1_5, rsa-oaep = RSAES-OAEP-SHA-256 (MGF1-SHA-256). */
  readonly scheme: 'kw' | 'kwp' | 'rsa-pkcs1' | 'rsa-oaep' | 'ml-kem';
  readonly target: WrapTarget;
  readonly description: string;
}

const aes = (name: string, scheme: 'kw' | 'kwp', target: WrapTarget, description: string): WrapMethod =>
  Object.freeze({ name, wrappingAlgorithm: 'AES', scheme, target, description });
const rsa = (name: string, scheme: 'rsa-pkcs1' | 'rsa-oaep', description: string): WrapMethod =>
  Object.freeze({ name, wrappingAlgorithm: 'RSA', scheme, target: 'secret', description });

const ASYMMETRIC: readonly Exclude<WrapTarget, 'secret'>[] = ['RSA', 'EC', 'ED', 'DSA', 'BLS'];

/**
 * The 14 methods of spec §4.6 (README decision 7 for the asymmetric ones: the PKCS#8 DER, or the raw
 * key bytes for BLS, zero-padded to a multiple of 8 for RFC 3394, unpadded for RFC 5649). The ML-KEM
 * names of the Go client are not in the enum: the TSB refuses them on /v1/wrap (spec §7), so does Warden (400/501).
 */
export const WRAP_METHODS: readonly WrapMethod[] = Object.freeze([
  aes('AES_WRAP', 'kw', 'secret', 'RFC 3394 AES key wrap of a symmetric key (its length must be a multiple of 8, at least 16 bytes)'),
  aes('AES_WRAP_PAD', 'kwp', 'secret', 'RFC 5649 AES key wrap with padding of a symmetric key'),
  ...ASYMMETRIC.map((t) => aes(`AES_WRAP_${t}`, 'kw', t, `RFC 3394 AES key wrap of a ${t} private key (${t === 'BLS' ? 'raw key bytes' : 'PKCS#8 DER'}, zero-padded to a multiple of 8 bytes)`)),
  ...ASYMMETRIC.map((t) => aes(`AES_WRAP_PAD_${t}`, 'kwp', t, `RFC 5649 AES key wrap with padding of a ${t} private key (${t === 'BLS' ? 'raw key bytes' : 'PKCS#8 DER'})`)),
  rsa('RSA_WRAP_PAD', 'rsa-pkcs1', 'RSAES-PKCS1-v1_5 encryption of a symmetric key'),
  rsa('RSA_WRAP_OAEP', 'rsa-oaep', 'RSAES-OAEP with SHA-256 and MGF1-SHA-256 of a symmetric key'),
  // Issue 5: ML-KEM encapsulation + RFC 5649 (src/crypto/pqc/kem-wrap.ts, docs/algorithms.md).
  ...(['512', '768', '1024'] as const).map((l) =>
    Object.freeze({
      name: `ML-KEM-${l}`, wrappingAlgorithm: `ML-KEM-${l}`, scheme: 'ml-kem', target: 'secret',
      description: `ML-KEM-${l} encapsulation to the wrapping key, then RFC 5649 AES-256 key wrap with the shared secret: c ‖ KWP(K, key) (Warden construction)`,
    } as const satisfies WrapMethod),
  ),
]);

const byName = new Map(WRAP_METHODS.map((m) => [m.name, m]));

/** Wire names of `wrapMethod` (drives the OpenAPI enum). */
export const WRAP_METHOD_NAMES: readonly string[] = Object.freeze(WRAP_METHODS.map((m) => m.name));

export function wrapMethodFor(name: string): WrapMethod {
  const m = byName.get(name);
  if (!m) throw new WardenError(501, `Unknown wrapMethod '${name}'`);
  return m;
}
