// Property tests (fast-check): the engine's quorum evaluation and the keystore's own check agree on
// every random rule and set of approvals; TLV encodings round-trip; garbage never parses as a challenge
// by accident of a thrown non-TLV error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkAuthorization } from '../src/workflow/authorization.ts';
import { OPERATION, buildChallenge, parseChallenge } from '../src/workflow/challenge.ts';
import { decodeRules, encodeRules, type Rule } from '../src/workflow/policy.ts';
import { evaluate } from '../src/workflow/quorum.ts';
import { TAG, TlvError } from '../src/workflow/tlv.ts';
import { WardenError } from '../src/server/errors.ts';
import { makeApprover, signBytes } from './helpers/workflow.ts';

const POOL = Array.from({ length: 5 }, (_, i) => makeApprover('ec', `p${i}`));
const approval = (i: number) => ({ type: 'public_key' as const, name: `p${i}`, value: POOL[i].spkiB64 });

/** A random rule over the pool: 1–3 tokens, 1–3 groups, quorum between 1 and the group's size. */
const ruleArb: fc.Arbitrary<Rule> = fc
  .array(
    fc.array(
      fc.uniqueArray(fc.integer({ min: 0, max: POOL.length - 1 }), { minLength: 1, maxLength: POOL.length }).chain((members) =>
        fc.integer({ min: 1, max: members.length }).map((quorum) => ({ name: 'g', quorum, approvals: members.map(approval) })),
      ),
      { minLength: 1, maxLength: 3 },
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((tokens) => ({ tokens: tokens.map((groups, i) => ({ name: `t${i}`, timelock: 0, timeout: 0, groups })) }));

describe('workflow properties', () => {
  it('engine and keystore agree: evaluate() says approved ⇔ checkAuthorization() accepts the same approvals', () => {
    const payload = Buffer.from('property');
    const challenge = buildChallenge({ operation: OPERATION.sign, label: 'k', timestamp: null, part: { tag: TAG.payload, value: payload }, parameters: null });
    const signatures = POOL.map((a) => signBytes(a, challenge));
    let approved = 0;
    let refused = 0;
    fc.assert(
      fc.property(ruleArb, fc.subarray([0, 1, 2, 3, 4]), (rule, who) => {
        const decisions = { approved: new Map(who.map((i) => [POOL[i].spkiB64, 0])), rejected: new Set<string>() };
        const engine = evaluate(rule, decisions, 0, 0).state === 'approved';
        let keystore: boolean;
        try {
          checkAuthorization({
            label: 'k', rule, operation: OPERATION.sign, part: { tag: TAG.payload, value: payload }, parameters: null,
            evidence: { challenge, approvals: who.map((i) => ({ publicKey: POOL[i].spki, signature: signatures[i], digestAlgorithm: 'SHA-256' })) },
            nowSeconds: 0, timestampKey: null,
          });
          keystore = true;
        } catch (e) {
          assert.ok(e instanceof WardenError && e.code === 401, String(e));
          keystore = false;
        }
        if (engine) approved++;
        else refused++;
        assert.equal(keystore, engine);
      }),
      { seed: 20261128, numRuns: 300 },
    );
    assert.ok(approved > 30 && refused > 30, `both outcomes exercised: ${approved} approved, ${refused} refused`);
  });

  it('rejections: evaluate() never approves without quorum and is rejected only when no token can be met', () => {
    fc.assert(
      fc.property(ruleArb, fc.subarray([0, 1, 2, 3, 4]), fc.subarray([0, 1, 2, 3, 4]), (rule, yes, no) => {
        const rejected = no.filter((i) => !yes.includes(i));
        const d = { approved: new Map(yes.map((i) => [POOL[i].spkiB64, 0])), rejected: new Set(rejected.map((i) => POOL[i].spkiB64)) };
        const e = evaluate(rule, d, 0, 0);
        const met = (ids: Set<string>) => rule.tokens.some((t) => t.groups.every((g) => g.approvals.filter((a) => ids.has(a.value)).length >= g.quorum));
        const yesIds = new Set(yes.map((i) => POOL[i].spkiB64));
        const possible = new Set(POOL.map((p) => p.spkiB64).filter((id) => !d.rejected.has(id)));
        if (met(yesIds)) assert.equal(e.state, 'approved');
        else if (met(possible)) assert.equal(e.state, 'pending');
        else assert.equal(e.state, 'rejected');
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('binary policies round-trip', () => {
    fc.assert(
      fc.property(fc.option(ruleArb, { nil: null }), fc.option(ruleArb, { nil: null }), (use, modify) => {
        const d = decodeRules(encodeRules({ ruleUse: use, ruleBlock: null, ruleUnblock: { tokens: [] }, ruleModify: modify }));
        const shape = (r: Rule | null) => r && r.tokens.map((t) => t.groups.map((g) => [g.quorum, g.approvals.map((a) => a.value)]));
        const decodedShape = (r: ReturnType<typeof decodeRules>['ruleUse']) => r && r.tokens.map((t) => t.groups.map((g) => [g.quorum, g.approvers.map((a) => a.publicKey)]));
        assert.deepEqual(decodedShape(d.ruleUse), shape(use));
        assert.deepEqual(decodedShape(d.ruleModify), shape(modify));
        assert.equal(d.ruleBlock, null);
      }),
      { seed: 11, numRuns: 200 },
    );
  });

  it('challenges round-trip; random bytes are refused with TlvError only', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.string({ maxLength: 200 }), fc.uint8Array({ maxLength: 3000 }), fc.option(fc.uint8Array({ maxLength: 500 }), { nil: null }), (op, label, payload, params) => {
        const c = buildChallenge({ operation: op, label, timestamp: null, part: { tag: TAG.payload, value: Buffer.from(payload) }, parameters: params && Buffer.from(params) });
        const p = parseChallenge(c);
        assert.equal(p.operation, op);
        assert.equal(p.label, label);
        assert.deepEqual(p.part.value, Buffer.from(payload));
        assert.deepEqual(p.parameters, params && Buffer.from(params));
      }),
      { seed: 3, numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          parseChallenge(Buffer.from(bytes));
        } catch (e) {
          assert.ok(e instanceof TlvError, String(e));
        }
      }),
      { seed: 5, numRuns: 1000 },
    );
  });
});
