// The SoftHSM test helper itself: per-process token directory, tokens made after C_Initialize are
// usable at once, wiped tokens are empty and their slots reused, a leaked session is caught.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tmpdir } from 'node:os';
import pkcs11js from 'pkcs11js';
import { provisionToken, softhsm, softhsmConf, SOFTHSM_LIBRARY } from './helpers/softhsm.ts';

const skip = SOFTHSM_LIBRARY ? false : 'SoftHSM is not installed';

function slotOf(p: pkcs11js.PKCS11, label: string): Buffer | undefined {
  return p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === label);
}

function login(p: pkcs11js.PKCS11, label: string, pin: string): Buffer {
  const slot = slotOf(p, label);
  assert.ok(slot, `token ${label} is visible`);
  const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  p.C_Login(s, pkcs11js.CKU_USER, pin);
  return s;
}

test('each process has its own token directory, and tokens made after C_Initialize are usable', { skip }, () => {
  const { conf, tokenDir } = softhsmConf();
  assert.equal(process.env.SOFTHSM2_CONF, conf);
  assert.ok(tokenDir.startsWith(tmpdir()), 'never the system token directory');
  const a = provisionToken();
  const p = softhsm(); // initialised by now
  const b = provisionToken({ pin: '0000' });
  assert.notEqual(a.label, b.label);
  assert.notEqual(a.serial, b.serial);
  const s = login(p, b.label, '0000');
  // Wrong PIN is refused: the PIN really was set.
  const other = p.C_OpenSession(slotOf(p, a.label) as Buffer, pkcs11js.CKF_SERIAL_SESSION);
  assert.throws(() => p.C_Login(other, pkcs11js.CKU_USER, 'wrong-pin'), /CKR_PIN_INCORRECT/);
  p.C_CloseSession(other);
  p.C_CloseSession(s);
  a.wipe();
  b.wipe();
});

test('a wiped token is empty and its slot is reused; wipe refuses while a session is open', { skip }, () => {
  const p = softhsm();
  const t = provisionToken();
  const s = login(p, t.label, t.pin);
  p.C_CreateObject(s, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: 'left-behind' },
    { type: pkcs11js.CKA_VALUE, value: Buffer.from('secret') },
  ]);
  assert.throws(() => t.wipe(), /session\(s\) still open/);
  p.C_CloseSession(s);
  const slotsBefore = p.C_GetSlotList(true).length;
  t.wipe();
  const u = provisionToken();
  assert.equal(p.C_GetSlotList(true).length, slotsBefore, 'the wiped slot was reused, no new slot');
  assert.equal(slotOf(p, t.label), undefined, 'the old label is gone');
  const s2 = login(p, u.label, u.pin);
  p.C_FindObjectsInit(s2, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA }]);
  assert.deepEqual(p.C_FindObjects(s2, 10), [], 'the reused token holds no object of the previous one');
  p.C_FindObjectsFinal(s2);
  p.C_CloseSession(s2);
  u.wipe();
});
