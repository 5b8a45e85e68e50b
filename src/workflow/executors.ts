// What an approved request does, per request type: the crypto comes from the key-operation modules
// (signature registry, cipher registry, key wrapping), the keystore re-checks the approvals itself
// (every call passes the request's authorization). Each executor returns the `result` string of
// GET /v1/request/{id} (spec §3.4): Base64 signature or plaintext, empty for block/unblock/modify.
import { decryptWith } from '../crypto/ciphers/operations.ts';
import { cipherFor, tagBitsFor } from '../crypto/ciphers/registry.ts';
import { checkKeyFor, signWith, signatureAlgorithm } from '../crypto/signatures/registry.ts';
import type { SignOptions, SignatureType } from '../crypto/signatures/types.ts';
import { wrapMethodFor } from '../crypto/wrapping/registry.ts';
import type { KeyFamily } from '../crypto/families/types.ts';
import { checkWrappingKey, provisionalParams, unwrapKey, unwrappedFamily } from '../crypto/wrapping/wrap.ts';
import { resolveAttributes, type AttributesRequest } from '../api/wire.ts';
import { createCsr, selfSignCertificate, signCertificateRequest, type CsrBody, type SelfSignBody, type SignBody } from '../api/certificates.ts';
import { certificatePemOneLine } from '../pki/certificates.ts';
import type { Static } from '@sinclair/typebox';
import type { KeyInfo } from '../keystore/interface.ts';
import { WardenError } from '../server/errors.ts';
import type { RequestType } from './challenge.ts';
import type { ExecutionContext, Executor } from './engine.ts';
import type { Policy, PolicyRules } from './policy.ts';

const b64 = (v: unknown): Buffer | undefined => (typeof v === 'string' ? Buffer.from(v, 'base64') : undefined);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Sign parameters bound into the challenge (docs/workflow.md). */
export interface SignParams {
  signatureAlgorithm: string;
  signatureType: string;
  auxiliaryRandomData?: string | null;
  taprootTweakData?: string | null;
  merkleRootData?: string | null;
}

function signOptions(p: Record<string, unknown>): SignOptions {
  return {
    signatureType: (str(p.signatureType) || 'DER') as SignatureType,
    auxiliaryRandomData: b64(p.auxiliaryRandomData),
    taprootTweakData: b64(p.taprootTweakData),
    merkleRootData: b64(p.merkleRootData),
    context: b64(p.context),
  };
}

function keyOf(info: KeyInfo) {
  return { algorithm: info.algorithm, curveOid: info.curveOid, keySize: info.keySize, material: { publicKey: info.publicKey ?? undefined } };
}

const sign: Executor = {
  check(info, params) {
    const alg = signatureAlgorithm(String(params.signatureAlgorithm));
    if (!info.attributes.sign) throw new WardenError(614, `Key '${info.label}' does not allow sign`);
    checkKeyFor(alg, keyOf(info));
    const opts = signOptions(params);
    if (!alg.signatureTypes.includes(opts.signatureType)) {
      throw new WardenError(600, `signatureType ${opts.signatureType} is not available for ${alg.name} (${alg.signatureTypes.join(', ')})`);
    }
  },
  async execute(ctx) {
    const alg = signatureAlgorithm(String(ctx.params.signatureAlgorithm));
    // LMS/XMSS (issue 5): the keystore reserves and seals the one-time index before signing.
    const signature = alg.stateful
      ? await ctx.keystore.useStateful(ctx.label, ctx.password, ({ info, material }, stateIndex) =>
        signWith(alg, { algorithm: info.algorithm, curveOid: info.curveOid, keySize: info.keySize, material }, ctx.payload, { ...signOptions(ctx.params), stateIndex }),
      { authorization: ctx.authorization })
      : await ctx.keystore.use(ctx.label, ctx.password, 'sign', ({ info, material }) =>
        signWith(alg, { algorithm: info.algorithm, curveOid: info.curveOid, keySize: info.keySize, material }, ctx.payload, signOptions(ctx.params)),
      { authorization: ctx.authorization });
    return signature.toString('base64');
  },
};

const decrypt: Executor = {
  check(info, params) {
    const cipher = cipherFor(String(params.cipherAlgorithm));
    tagBitsFor(cipher, typeof params.tagLength === 'number' ? params.tagLength : null);
    if (!info.attributes.decrypt) throw new WardenError(614, `Key '${info.label}' does not allow decrypt`);
    if (info.algorithm !== cipher.keyAlgorithm) throw new WardenError(607, `${cipher.name} needs a ${cipher.keyAlgorithm} key; '${info.label}' is a ${info.algorithm} key`);
  },
  async execute(ctx) {
    const p = ctx.params;
    const cipher = cipherFor(String(p.cipherAlgorithm));
    const tagBits = tagBitsFor(cipher, typeof p.tagLength === 'number' ? p.tagLength : null);
    const plain = await ctx.keystore.use(ctx.label, ctx.password, 'decrypt', (key) =>
      decryptWith(cipher, key, ctx.payload, { iv: b64(p.initializationVector) ?? null, aad: b64(p.additionalAuthenticationData) ?? null, tagBits }),
    { authorization: ctx.authorization });
    return plain.toString('base64');
  },
};

const unwrap: Executor = {
  async check(info, params) {
    const method = wrapMethodFor(String(params.wrapMethod));
    if (!info.attributes.unwrap) throw new WardenError(614, `Key '${info.label}' does not allow unwrap`);
    if (info.algorithm !== method.wrappingAlgorithm) throw new WardenError(607, `${method.name} needs a ${method.wrappingAlgorithm} key to unwrap with; '${info.label}' is a ${info.algorithm} key`);
  },
  async execute(ctx) {
    const p = ctx.params;
    const method = wrapMethodFor(String(p.wrapMethod));
    const label = String(p.label);
    if (await ctx.keystore.peek(label)) throw new WardenError(608, `Key '${label}' already exists`);
    const unwrapped = await ctx.keystore.use(ctx.label, ctx.password, 'unwrap', (key) => {
      checkWrappingKey(method, key, 'unwrap');
      return unwrapKey(method, key, ctx.payload);
    }, { authorization: ctx.authorization });
    if (unwrapped.onToken) {
      // The token unwraps the secret straight into the new key's object (C_UnwrapKey).
      const family = unwrappedFamily(method, 16, str(p.algorithm)) as KeyFamily;
      const policy = (p.policy ?? null) as Policy | null;
      if (policy) throw new WardenError(606, 'A policy is only allowed on asymmetric, non-extractable keys');
      const attrs = resolveAttributes((p.attributes ?? {}) as AttributesRequest, { generated: false, symmetric: true, algorithm: family.algorithm });
      await ctx.keystore.create({ label, family, params: provisionalParams(family), attributes: attrs, unwrap: unwrapped.onToken, password: null, creation: 'imported', policy });
      return '';
    }
    const bytes = unwrapped.bytes;
    try {
      const family = unwrappedFamily(method, bytes.length, str(p.algorithm));
      if (!family) throw new WardenError(410, 'Unwrapping failed: the unwrapped secret is not an AES key; name its algorithm in unwrapKeyRequest.algorithm');
      const policy = (p.policy ?? null) as Policy | null;
      const attrs = resolveAttributes((p.attributes ?? {}) as AttributesRequest, { generated: false, symmetric: family.symmetric, algorithm: family.algorithm });
      if (policy && (family.symmetric || attrs.extractable)) {
        throw new WardenError(606, 'A policy is only allowed on asymmetric, non-extractable keys');
      }
      let imported;
      try {
        imported = family.importMaterial(family.symmetric ? { secret: bytes } : { privateKey: bytes });
      } catch (e) {
        if (method.wrappingAlgorithm === 'RSA' && e instanceof WardenError) {
          throw new WardenError(410, `Unwrapping failed: the unwrapped data is not a valid ${family.algorithm} key`, { cause: e });
        }
        throw e;
      }
      await ctx.keystore.create({ label, family, params: imported.params, attributes: attrs, material: imported.material, password: null, creation: 'imported', policy });
      return '';
    } finally {
      bytes.fill(0);
    }
  },
};

function policyChange(kind: 'block' | 'unblock'): Executor {
  return {
    async execute(ctx) {
      await ctx.keystore.changePolicy(ctx.label, ctx.password, { kind }, { parameters: ctx.authorization.parameters, evidence: ctx.authorization.evidence });
      return '';
    },
  };
}

const modify: Executor = {
  async execute(ctx) {
    const rules = ctx.params.policy as PolicyRules;
    await ctx.keystore.changePolicy(ctx.label, ctx.password, { kind: 'modify', rules }, { parameters: ctx.authorization.parameters, evidence: ctx.authorization.evidence });
    return '';
  },
};

/**
 * Certificate requests (spec api §4.12.8): the inner request (without password and metaData) is both the
 * challenge payload approvers see and the parameters the certificate module runs with.
 */
function certificate<B>(run: (body: B, ctx: ExecutionContext) => Promise<string>): Executor {
  return {
    check(info) {
      if (!info.attributes.sign) throw new WardenError(614, `Key '${info.label}' does not allow sign`);
      if (!info.publicKey || info.keyClass !== 'private') throw new WardenError(613, `Key '${info.label}' holds no private key to sign with`);
    },
    execute(ctx) {
      const body = { ...(ctx.params.request as B), keyPassword: ctx.password };
      return run(body, ctx);
    },
  };
}

const csrsign = certificate<Static<typeof CsrBody>>(async (body, ctx) => (await createCsr(body, ctx.keystore, { authorization: ctx.authorization })).pem);
const selfsign = certificate<Static<typeof SelfSignBody>>(async (body, ctx) => {
  await selfSignCertificate(body, ctx.keystore, { authorization: ctx.authorization });
  return 'true';
});
const crtsign = certificate<Static<typeof SignBody>>(async (body, ctx) =>
  certificatePemOneLine(await signCertificateRequest(body, ctx.keystore, { authorization: ctx.authorization })),
);

export function defaultExecutors(): Record<RequestType, Executor> {
  return { sign, decrypt, unwrap, block: policyChange('block'), unblock: policyChange('unblock'), modify, csrsign, crtsign, selfsign };
}
