// Hierarchical deterministic keys and crypto addresses (spec §3.7–§3.9; role keyManagementToken):
// POST /v1/importedKey (BIP-32/SLIP-10 master from a seed), POST /v1/derivedKey (persisted child
// `master/path`) and the address of an SKA key, POST /v1/key/address and GET /v1/key/{keyName}/address.
// Derivation paths in key names (spec §2.7) are resolved by the keystore, so every route takes them.
import { Type, type Static } from '@sinclair/typebox';
import { addressOf, checkAddressFormat, checkAddressKey } from '../crypto/addresses/index.ts';
import { derivationTypeOf, seedMaterial, hdCurveOf } from '../crypto/derivation/keys.ts';
import { familyFor } from '../crypto/registry.ts';
import { WardenError } from '../server/errors.ts';
import { policyForNewKey } from '../workflow/key-policy.ts';
import { PolicySchema } from '../workflow/policy.ts';
import type { KeyInfo } from '../keystore/interface.ts';
import { signedAttributes } from './key-view.ts';
import type { RouteGroup } from './route.ts';
import { Base64, LabelSchema, PasswordSchema, checkLabel, decodeB64, errorResponses, passwordOf, resolveAttributes, type AttributesRequest } from './wire.ts';

const ROLE = ['keyManagementToken'] as const;
const TAGS = ['Key management'];
const ED25519_OID = '1.3.101.112';
const CURVE_OIDS = ['1.3.132.0.10', '1.2.840.10045.3.1.7', ED25519_OID];

const AddressFormatSchema = Type.Union([Type.Object({ format: Type.String({ examples: ['ETH'], description: 'BTC, ETH, XLM, XRP or IOTA' }) }), Type.Null()]);

const ImportedKeyBody = Type.Object(
  {
    label: LabelSchema,
    password: Type.Optional(PasswordSchema),
    seed: Base64({ description: 'BIP-32 / SLIP-0010 seed, 128 to 512 bits (256 advised), Base64', maxLength: 128 }),
    curveOid: Type.String({ description: `secp256k1 (1.3.132.0.10, BIP-32), P-256 (1.2.840.10045.3.1.7, SLIP-0010) or Ed25519 (${ED25519_OID}, SLIP-0010)`, examples: ['1.3.132.0.10'] }),
    addressFormat: Type.Optional(AddressFormatSchema),
    attributes: Type.Ref('KeyAttributesRequest'),
    policy: Type.Optional(PolicySchema),
  },
  { examples: [{ label: 'hd-master', seed: 'AAECAwQFBgcICQoLDA0ODw==', curveOid: '1.3.132.0.10', attributes: { sign: true, decrypt: false, unwrap: false, derive: true, bip32: true } }] },
);

const DerivedKeyBody = Type.Object(
  {
    masterKeyLabel: LabelSchema,
    masterKeyPassword: Type.Optional(PasswordSchema),
    derivationPath: Type.String({ minLength: 1, maxLength: 1024, description: "Path without a leading m/, e.g. 44'/60'/0'/0/0 (' = hardened; Ed25519: hardened only)", examples: ["44'/60'/0'/0/0"] }),
    attributes: Type.Optional(Type.Union([Type.Ref('KeyAttributesRequest'), Type.Null()], { description: "Absent or null: the master's attributes" })),
  },
  { examples: [{ masterKeyLabel: 'hd-master', derivationPath: "44'/60'/0'/0/0" }] },
);

const AddressBody = Type.Object(
  { label: Type.String({ minLength: 1, maxLength: 1024, description: "Key label, optionally with a derivation path (master/44'/0'/0')" }), password: Type.Optional(PasswordSchema) },
  { examples: [{ label: 'my-ska-key' }] },
);
const KeyNameParams = Type.Object({ keyName: Type.String({ minLength: 1, maxLength: 1024 }) });

const AddressResponse = Type.Object({
  address: Type.String({ description: 'Base64 of the address base: no network prefix, no checksum (spec §2.6); for ETH the 20-byte address' }),
  encodedAddress: Type.String({ description: 'Warden extension: the usual text form (P2PKH, EIP-55, StrKey, XRPL r-address, bech32)' }),
});

const Created = { 201: Type.Ref('SignedKeyAttributes'), ...errorResponses };

/** importedKey: derivation is the point of a seed, so derive and bip32 (EC) / slip10 (ED) default to true. */
function seedAttributes(req: AttributesRequest, ed: boolean): AttributesRequest {
  const given = (v: boolean | null | undefined) => v !== undefined && v !== null;
  const out: AttributesRequest = { ...req };
  if (!given(req.derive)) out.derive = true;
  if (!given(req.bip32) && !given(req.slip10)) {
    if (ed) out.slip10 = true;
    else out.bip32 = true;
  }
  return out;
}

/** The address of an SKA key with an addressFormat (spec §3.9); 630 for a key without a policy. */
function addressView(info: KeyInfo) {
  const format = info.ext?.addressFormat;
  if (!info.policy) throw new WardenError(630, `Key '${info.label}' has no policy: addresses exist for SKA keys with an addressFormat only`);
  if (!format) throw new WardenError(605, `Key '${info.label}' has no addressFormat`);
  const a = addressOf(checkAddressFormat(format), info);
  return { address: a.raw.toString('base64'), encodedAddress: a.encoded };
}

export const derivationRoutes: RouteGroup = () => [
  {
    method: 'POST', url: '/v1/importedKey', roles: ROLE, operationId: 'importSeedKey', tags: TAGS,
    summary: 'Create a BIP-32 / SLIP-0010 master key from a seed (201, its attributes with derivedAttributes)',
    body: ImportedKeyBody, response: Created,
    handler: async (req, reply, s) => {
      const body = req.body as Static<typeof ImportedKeyBody>;
      req.auditLabel = body.label;
      checkLabel(body.label);
      if (!CURVE_OIDS.includes(body.curveOid)) throw new WardenError(600, `Unsupported Curve: ${body.curveOid} (secp256k1, P-256 or Ed25519)`);
      const ed = body.curveOid === ED25519_OID;
      const family = familyFor(ed ? 'ED' : 'EC');
      const params = family.resolve({ curveOid: body.curveOid });
      const seed = decodeB64('seed', body.seed);
      const attributes = resolveAttributes(seedAttributes(body.attributes as AttributesRequest, ed), { generated: false, symmetric: false, algorithm: family.algorithm });
      if (!derivationTypeOf({ algorithm: family.algorithm, curveOid: params.curveOid, attributes }) || !attributes.derive) {
        throw new WardenError(606, 'A key imported from a seed needs derive=true with bip32 or slip10');
      }
      if (await s.keystore.peek(body.label)) throw new WardenError(608, `Key '${body.label}' already exists`);
      const policy = await policyForNewKey(body, { symmetric: false, extractable: attributes.extractable }, s.approvers ?? null);
      const curve = hdCurveOf({ algorithm: family.algorithm, curveOid: params.curveOid });
      if (!curve) throw new WardenError(600, `Unsupported Curve: ${body.curveOid}`);
      const { material, ext } = seedMaterial(curve, seed);
      if (body.addressFormat) {
        const format = checkAddressFormat(body.addressFormat.format);
        checkAddressKey(format, { algorithm: family.algorithm, curveOid: params.curveOid });
        ext.addressFormat = format;
      }
      const info = await s.keystore.create({
        label: body.label, family, params, attributes, material, password: passwordOf(body.password), creation: 'imported', policy, ext,
      });
      reply.code(201);
      return signedAttributes(info, s);
    },
  },
  {
    method: 'POST', url: '/v1/derivedKey', roles: ROLE, operationId: 'createDerivedKey', tags: TAGS,
    summary: 'Persist the child master/path of a BIP-32 / SLIP-0010 key (201); it inherits the master password and policy',
    body: DerivedKeyBody, response: Created,
    handler: async (req, reply, s) => {
      const body = req.body as Static<typeof DerivedKeyBody>;
      req.auditLabel = `${body.masterKeyLabel}/${body.derivationPath}`;
      checkLabel(body.masterKeyLabel, 'masterKeyLabel');
      const master = await s.keystore.peek(body.masterKeyLabel);
      if (!master) throw new WardenError(650, `Key '${body.masterKeyLabel}' does not exist`);
      const attributes = body.attributes
        ? resolveAttributes({ ...(body.attributes as AttributesRequest), bip32: false, slip10: false }, { generated: true, symmetric: false, algorithm: master.algorithm })
        : null;
      const info = await s.keystore.deriveKey(body.masterKeyLabel, passwordOf(body.masterKeyPassword), body.derivationPath, attributes);
      reply.code(201);
      return signedAttributes(info, s);
    },
  },
  {
    method: 'POST', url: '/v1/key/address', roles: ROLE, operationId: 'getKeyAddress', tags: TAGS,
    summary: 'The crypto-currency address of an SKA key with an addressFormat (label may carry a derivation path)',
    body: AddressBody, response: { 200: AddressResponse, ...errorResponses },
    handler: async (req, _reply, s) => {
      const body = req.body as Static<typeof AddressBody>;
      req.auditLabel = body.label;
      return addressView(await s.keystore.describe(body.label, passwordOf(body.password)));
    },
  },
  {
    method: 'GET', url: '/v1/key/:keyName/address', roles: ROLE, operationId: 'getKeyAddressByName', tags: TAGS, deprecated: true,
    summary: 'The address of a key without a password (deprecated: use POST /v1/key/address)',
    params: KeyNameParams, response: { 200: AddressResponse, ...errorResponses },
    handler: async (req, _reply, s) => {
      const { keyName } = req.params as Static<typeof KeyNameParams>;
      req.auditLabel = keyName;
      return addressView(await s.keystore.describe(keyName, null));
    },
  },
];
