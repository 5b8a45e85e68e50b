// Crypto-currency addresses (spec §2.6, §3.9): known answers for BTC, ETH and XRP (secp256k1 key 1,
// the XRP genesis account), StrKey/CRC16 for XLM, bech32 for IOTA; through the API: addressFormat on
// SKA keys (create, import, seed import), addressTruncated in the attributes, POST /v1/key/address and
// the GET form, derived paths of an SKA master, an ETH r‖s‖v signature recovering to the key's address,
// and the refusals (630 without a policy, 605 for unknown formats or keys that cannot have the address).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bech32 } from '@scure/base';
import { addressOf, crc16xmodem } from '../src/crypto/addresses/index.ts';
import { materialOf } from '../src/crypto/derivation/keys.ts';
import { fastDataDir } from './helpers/signature-keys.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

const K1 = '1.3.132.0.10';
const SKA = { ruleUse: null };
const SIGN = { sign: true, decrypt: false, unwrap: false };
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

function spkiOfCompressed(hex: string): Buffer {
  const p = secp256k1.Point.fromBytes(Buffer.from(hex, 'hex')).toBytes(false);
  return createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: Buffer.from(p.subarray(1, 33)).toString('base64url'), y: Buffer.from(p.subarray(33)).toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

describe('address encodings (known answers)', () => {
  const one = Buffer.alloc(32);
  one[31] = 1;
  const k1 = { algorithm: 'EC', curveOid: K1, publicKey: materialOf({ curve: 'secp256k1', privateKey: one }).publicKey as Buffer };

  it('BTC and ETH of the secp256k1 private key 1', () => {
    const btc = addressOf('BTC', k1);
    assert.equal(btc.raw.toString('hex'), '751e76e8199196d454941c45d1b3a323f1433bd6');
    assert.equal(btc.encoded, '1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH');
    const eth = addressOf('ETH', k1);
    assert.equal(eth.raw.toString('hex'), '7e5f4552091a69125d5dfcb7b8c2659029395bdf');
    assert.equal(eth.encoded, '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf', 'EIP-55 checksum');
  });

  it('XRP: the genesis account rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh from its public key', () => {
    const xrp = addressOf('XRP', { algorithm: 'EC', curveOid: K1, publicKey: spkiOfCompressed('0330E7FC9D56BB25D6893BA3F317AE5BCF33B3291BD63DB32654A313222F7FD020') });
    assert.equal(xrp.raw.toString('hex').toUpperCase(), 'B5F762798A53D543A014CAF8B297CFF8F2F937E8');
    assert.equal(xrp.encoded, 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh');
  });

  it('XLM StrKey (CRC-16/XMODEM check value 0x31C3) and IOTA bech32 round-trip to the raw bytes', () => {
    assert.equal(crc16xmodem(Buffer.from('123456789')), 0x31c3);
    const ed = { algorithm: 'ED', curveOid: null, publicKey: materialOf({ curve: 'ed25519', privateKey: one }).publicKey as Buffer };
    const xlm = addressOf('XLM', ed);
    assert.equal(xlm.raw.length, 32);
    assert.match(xlm.encoded, /^G[A-Z2-7]{55}$/);
    const iota = addressOf('IOTA', ed);
    const dec = bech32.decode(iota.encoded as `${string}1${string}`);
    assert.equal(dec.prefix, 'iota');
    assert.ok(Buffer.from(bech32.fromWords(dec.words)).equals(Buffer.concat([Buffer.from([0]), iota.raw])));
    assert.equal(addressOf('XRP', ed).raw.length, 20);
  });
});

let w: TestWarden;
before(async () => {
  w = await startTestWarden({ dataDir: fastDataDir() });
});
after(async () => {
  await w.close();
});

describe('addresses through the API', () => {
  it('ETH on an SKA secp256k1 key: addressTruncated = /v1/key/address = keccak of the public key; ETH signatures recover to it', async () => {
    const r = await w.call('POST', '/v1/key', { label: 'eth-ska', algorithm: 'EC', curveOid: K1, attributes: SIGN, policy: SKA, addressFormat: { format: 'ETH' } });
    assert.equal(r.statusCode, 201, r.body);
    const json = r.json().json;
    const jwk = createPublicKey({ key: Buffer.from(json.publicKey, 'base64'), format: 'der', type: 'spki' }).export({ format: 'jwk' });
    const xy = Buffer.concat([Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]);
    const expected = Buffer.from(keccak_256(xy).subarray(12));
    assert.deepEqual(json.addressTruncated, { address: expected.toString('hex').toUpperCase(), format: 'ETH' });
    assert.ok(r.json().xml.includes(`<address_truncated format="ETH">${expected.toString('hex').toUpperCase()}</address_truncated>`), 'attestation XML');
    const a = await w.call('POST', '/v1/key/address', { label: 'eth-ska' });
    assert.equal(a.statusCode, 200, a.body);
    assert.equal(a.json().address, b64(expected));
    assert.equal(a.json().encodedAddress.toLowerCase(), '0x' + expected.toString('hex'));
    const g = await w.call('GET', '/v1/key/eth-ska/address');
    assert.equal(g.json().address, b64(expected));
    // signatureType ETH (r‖s‖v) with KECCAK256_WITH_ECDSA recovers to the same address
    const msg = Buffer.from('transfer 1 ETH');
    const s = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(msg), signKeyName: 'eth-ska', signatureAlgorithm: 'KECCAK256_WITH_ECDSA', signatureType: 'ETH' } }, 'keyOperationToken');
    assert.equal(s.statusCode, 200, s.body);
    const sig = Buffer.from(s.json().signature, 'base64');
    assert.equal(sig.length, 65);
    const recovered = secp256k1.Signature.fromBytes(sig.subarray(0, 64), 'compact').addRecoveryBit(sig[64] - 27).recoverPublicKey(keccak_256(msg));
    assert.ok(Buffer.from(keccak_256(recovered.toBytes(false).subarray(1)).subarray(12)).equals(expected));
  });

  it('every format on a key it fits (BTC/ETH/XRP on secp256k1, XLM/XRP/IOTA on Ed25519), by create and by import', async () => {
    for (const [format, algorithm, curveOid] of [['BTC', 'EC', K1], ['XRP', 'EC', K1], ['XLM', 'ED', null], ['XRP', 'ED', null], ['IOTA', 'ED', null]] as const) {
      const label = `addr-${format}-${algorithm}`;
      const r = await w.call('POST', '/v1/key', { label, algorithm, ...(curveOid ? { curveOid } : {}), attributes: SIGN, policy: SKA, addressFormat: { format } });
      assert.equal(r.statusCode, 201, `${label}: ${r.body}`);
      const json = r.json().json;
      const expected = addressOf(format, { algorithm, curveOid, publicKey: Buffer.from(json.publicKey, 'base64') });
      assert.deepEqual(json.addressTruncated, { address: expected.raw.toString('hex').toUpperCase(), format });
      const a = await w.call('POST', '/v1/key/address', { label });
      assert.equal(a.json().address, b64(expected.raw));
      assert.equal(a.json().encodedAddress, expected.encoded);
    }
    const one = Buffer.alloc(32);
    one[31] = 1;
    const m = materialOf({ curve: 'secp256k1', privateKey: one });
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'btc-imp', algorithm: 'EC', privateKey: b64(m.privateKey as Buffer), attributes: SIGN, policy: SKA, addressFormat: { format: 'BTC' } });
    assert.equal(imp.statusCode, 201, imp.body);
    assert.equal(imp.json().json.addressTruncated.address, '751E76E8199196D454941C45D1B3A323F1433BD6');
    assert.equal((await w.call('POST', '/v1/key/address', { label: 'btc-imp' })).json().encodedAddress, '1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH');
  });

  it('a derived path of an SKA master with an addressFormat has the address of the derived key', async () => {
    const r = await w.call('POST', '/v1/importedKey', { label: 'hd-eth', seed: b64(Buffer.alloc(32, 9)), curveOid: K1, attributes: { ...SIGN, derive: true, bip32: true }, policy: SKA, addressFormat: { format: 'ETH' } });
    assert.equal(r.statusCode, 201, r.body);
    const label = "hd-eth/44'/60'/0'/0/0";
    const json = (await w.call('POST', '/v1/key/attributes', { label })).json().json;
    const expected = addressOf('ETH', { algorithm: 'EC', curveOid: K1, publicKey: Buffer.from(json.publicKey, 'base64') });
    assert.equal(json.addressTruncated.address, expected.raw.toString('hex').toUpperCase());
    assert.notEqual(json.addressTruncated.address, r.json().json.addressTruncated.address);
    assert.equal((await w.call('POST', '/v1/key/address', { label })).json().address, b64(expected.raw));
    const g = await w.call('GET', `/v1/key/${encodeURIComponent(label)}/address`);
    assert.equal(g.statusCode, 200, g.body);
    assert.equal(g.json().address, b64(expected.raw));
  });

  it('refusals: addressFormat without a policy 630, unknown currency 605, a format the key cannot have 605, address of a plain key 630', async () => {
    const plain = await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', curveOid: K1, attributes: SIGN, addressFormat: { format: 'BTC' } });
    assert.equal(plain.json().errorCode, 630);
    assert.equal((await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', curveOid: K1, attributes: SIGN, policy: SKA, addressFormat: { format: 'DOGE' } })).json().errorCode, 605);
    assert.equal((await w.call('POST', '/v1/key', { label: 'x', algorithm: 'ED', attributes: SIGN, policy: SKA, addressFormat: { format: 'ETH' } })).json().errorCode, 605);
    assert.equal((await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: SIGN, policy: SKA, addressFormat: { format: 'BTC' } })).json().errorCode, 605);
    await w.call('POST', '/v1/key', { label: 'plain-k1', algorithm: 'EC', curveOid: K1, attributes: SIGN });
    const a = await w.call('POST', '/v1/key/address', { label: 'plain-k1' });
    assert.equal(a.statusCode, 400);
    assert.equal(a.json().errorCode, 630);
    await w.call('POST', '/v1/key', { label: 'ska-noformat', algorithm: 'EC', curveOid: K1, attributes: SIGN, policy: SKA });
    assert.equal((await w.call('POST', '/v1/key/address', { label: 'ska-noformat' })).json().errorCode, 605);
    assert.equal((await w.call('POST', '/v1/key/address', { label: 'missing' })).json().errorCode, 650);
    assert.equal((await w.call('POST', '/v1/key/address', { label: 'eth-ska' }, 'keyOperationToken')).statusCode, 401, 'keyManagementToken route');
  });
});
