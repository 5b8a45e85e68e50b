// Named curves of spec §2.2 with the OpenSSL name each maps to. frp256v1 is in the spec's table but
// not in Node 20's OpenSSL 3.0, so it is listed as unavailable (creating such a key answers 600).
export interface CurveInfo {
  oid: string;
  name: string;
  /** OpenSSL / node:crypto namedCurve, or null when this runtime cannot generate it. */
  nodeName: string | null;
  /** Size of the group order in bits: r‖s halves and RAW signatures use ceil(bits/8) bytes each. */
  orderBits: number;
}

export const EC_CURVES: readonly CurveInfo[] = Object.freeze([
  { oid: '1.3.132.0.32', name: 'secp224k1', nodeName: 'secp224k1', orderBits: 225 },
  { oid: '1.3.132.0.33', name: 'secp224r1', nodeName: 'secp224r1', orderBits: 224 },
  { oid: '1.3.132.0.10', name: 'secp256k1', nodeName: 'secp256k1', orderBits: 256 },
  { oid: '1.2.840.10045.3.1.7', name: 'secp256r1', nodeName: 'prime256v1', orderBits: 256 },
  { oid: '1.3.132.0.34', name: 'secp384r1', nodeName: 'secp384r1', orderBits: 384 },
  { oid: '1.3.132.0.35', name: 'secp521r1', nodeName: 'secp521r1', orderBits: 521 },
  { oid: '1.2.840.10045.3.1.1', name: 'x962p239v1', nodeName: 'prime239v1', orderBits: 239 },
  { oid: '1.2.840.10045.3.1.2', name: 'x962p239v2', nodeName: 'prime239v2', orderBits: 239 },
  { oid: '1.2.840.10045.3.1.3', name: 'x962p239v3', nodeName: 'prime239v3', orderBits: 239 },
  { oid: '1.3.36.3.3.2.8.1.1.1', name: 'brainpool224r1', nodeName: 'brainpoolP224r1', orderBits: 224 },
  { oid: '1.3.36.3.3.2.8.1.1.7', name: 'brainpool256r1', nodeName: 'brainpoolP256r1', orderBits: 256 },
  { oid: '1.3.36.3.3.2.8.1.1.9', name: 'brainpool320r1', nodeName: 'brainpoolP320r1', orderBits: 320 },
  { oid: '1.3.36.3.3.2.8.1.1.11', name: 'brainpool384r1', nodeName: 'brainpoolP384r1', orderBits: 384 },
  { oid: '1.3.36.3.3.2.8.1.1.13', name: 'brainpool512r1', nodeName: 'brainpoolP512r1', orderBits: 512 },
  { oid: '1.2.250.1.223.101.256.1', name: 'frp256v1', nodeName: null, orderBits: 256 },
]);

const byOid = new Map(EC_CURVES.map((c) => [c.oid, c]));
const byNodeName = new Map(EC_CURVES.filter((c) => c.nodeName).map((c) => [c.nodeName as string, c]));

export function curveByOid(oid: string): CurveInfo | undefined {
  return byOid.get(oid);
}

export function curveByNodeName(name: string): CurveInfo | undefined {
  return byNodeName.get(name);
}

export const ED25519_OID = '1.3.101.112';
