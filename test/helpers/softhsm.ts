// SoftHSMv2 for tests: each test process gets its own token directory (a temporary SOFTHSM2_CONF), and
// each test runtime its own freshly initialised token, wiped when the runtime is removed.
//
// Why tokens are made in-process (measured with SoftHSM 2.6.1, pkcs11js 2.1.7; docs/hsm.md):
// - SoftHSM reads SOFTHSM2_CONF at C_Initialize, and the library state is per process (every
//   `new PKCS11()` of the same .so shares it), so the conf must be set before anything initialises it;
// - a token made by `softhsm2-util --init-token` after C_Initialize stays invisible to this process
//   until C_Finalize + C_Initialize, which would cut the sessions of every keystore still open here;
// - C_InitToken on the free slot through the already initialised library is seen at once (and a new
//   free slot appears), so that is how tokens are created. A wiped token's slot is reused by the next
//   runtime (C_InitToken again), so the slot list stays as long as the most runtimes open at once.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pkcs11js from 'pkcs11js';

/** WARDEN_TEST_KEYSTORE=pkcs11 (`npm test`'s PKCS#11 pass): startTestWarden gives each runtime a SoftHSM token. */
export const ON_PKCS11 = process.env.WARDEN_TEST_KEYSTORE === 'pkcs11';

const CANDIDATES = [
  process.env.WARDEN_TEST_SOFTHSM_LIBRARY,
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

/** Path of libsofthsm2.so, or null when SoftHSM is not installed (scripts/ensure-system-deps.sh installs it). */
export const SOFTHSM_LIBRARY: string | null = CANDIDATES.find((p): p is string => !!p && existsSync(p)) ?? null;

export const TEST_SO_PIN = '87654321';

let tokenDir: string | null = null;
let lib: pkcs11js.PKCS11 | null = null;
/** Slots of wiped tokens, ready to be initialised again. */
const spare: Buffer[] = [];
let counter = 0;

/**
 * Points SOFTHSM2_CONF of this process at its own token directory (removed at exit). Must run before
 * anything in the process initialises the library; provisionToken() calls it first.
 */
export function softhsmConf(): { conf: string; tokenDir: string } {
  if (!tokenDir) {
    const dir = mkdtempSync(path.join(tmpdir(), 'warden-softhsm-'));
    const tokens = path.join(dir, 'tokens');
    const conf = path.join(dir, 'softhsm2.conf');
    mkdirSync(tokens);
    writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\nslots.mechanisms = ALL\nlibrary.reset_on_fork = false\n`);
    process.env.SOFTHSM2_CONF = conf;
    tokenDir = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return { conf: path.join(tokenDir, 'softhsm2.conf'), tokenDir: path.join(tokenDir, 'tokens') };
}

/** The process-wide library, initialised with this process's conf (tolerating a keystore that did it first). */
function library(): pkcs11js.PKCS11 {
  if (!SOFTHSM_LIBRARY) throw new Error('SoftHSM is not installed (libsofthsm2.so not found): run scripts/ensure-system-deps.sh as root');
  const fresh = !tokenDir;
  softhsmConf();
  if (!lib) {
    lib = new pkcs11js.PKCS11();
    lib.load(SOFTHSM_LIBRARY);
  }
  try {
    // CKF_OS_LOCKING_OK: without it SoftHSM turns its mutexes off (no concurrent callers promised), and
    // whoever initialises first decides for the whole process, the keystore included.
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    if (!isCode(e, 'CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw e;
    // Someone initialised it before this process had its own conf: it would be using the system's tokens.
    if (fresh) throw new Error('SoftHSM was initialised in this process before test/helpers/softhsm.ts set SOFTHSM2_CONF: provision a token before opening a PKCS#11 keystore');
  }
  return lib;
}

function isCode(e: unknown, name: string): boolean {
  return e instanceof Error && e.message.startsWith(name);
}

const pad = (label: string) => label.padEnd(32, ' ');

export interface TestToken {
  label: string;
  serial: string;
  pin: string;
  soPin: string;
  library: string;
  /** WARDEN_KEYSTORE_* environment that points a runtime at this token. */
  env: Record<string, string>;
  /** Erases the token (C_InitToken) and keeps its slot for the next token. Fails if a session is still open on it. */
  wipe(): void;
}

/** A freshly initialised, empty token with a user PIN, found by its unique label. */
export function provisionToken(opts: { label?: string; pin?: string } = {}): TestToken {
  const p = library();
  const label = opts.label ?? `warden-test-${process.pid}-${++counter}`;
  if (label.length > 32) throw new Error(`token label ${label} is longer than 32 characters`);
  const pin = opts.pin ?? '12345678';
  let slot = spare.pop();
  if (!slot) {
    slot = p.C_GetSlotList(true).find((s) => (p.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0);
    if (!slot) throw new Error('SoftHSM offers no free slot');
  }
  p.C_InitToken(slot, TEST_SO_PIN, pad(label));
  // C_InitToken on the free slot gives the token a new slot id: look it up again by label.
  const tokenSlot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === label);
  if (!tokenSlot) throw new Error(`token ${label} not found after C_InitToken`);
  const session = p.C_OpenSession(tokenSlot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    p.C_Login(session, pkcs11js.CKU_SO, TEST_SO_PIN);
    p.C_InitPIN(session, pin);
    p.C_Logout(session);
  } finally {
    p.C_CloseSession(session);
  }
  const serial = p.C_GetTokenInfo(tokenSlot).serialNumber.trim();
  let wiped = false;
  return {
    label,
    serial,
    pin,
    soPin: TEST_SO_PIN,
    library: SOFTHSM_LIBRARY as string,
    env: {
      WARDEN_KEYSTORE_TYPE: 'pkcs11',
      WARDEN_KEYSTORE_PKCS11_LIBRARY: SOFTHSM_LIBRARY as string,
      WARDEN_KEYSTORE_PKCS11_TOKEN_LABEL: label,
      WARDEN_KEYSTORE_PKCS11_PIN: pin,
    },
    wipe() {
      if (wiped) return;
      const q = library();
      // SoftHSM reports no session count (CK_UNAVAILABLE_INFORMATION), but refuses C_InitToken while any is open.
      try {
        q.C_InitToken(tokenSlot, TEST_SO_PIN, pad('warden-test-spare'));
      } catch (e) {
        if (isCode(e, 'CKR_SESSION_EXISTS')) throw new Error(`token ${label}: session(s) still open after the runtime closed (a keystore leaks sessions)`);
        throw e;
      }
      wiped = true;
      spare.push(tokenSlot);
    },
  };
}

/** Tokens of runtimes started by startTestWarden, by data directory (a restart on the same directory keeps its token). */
const byDataDir = new Map<string, TestToken>();

/**
 * With WARDEN_TEST_KEYSTORE=pkcs11, the environment that points a test runtime at its own token (made
 * on first use of dataDir), and how to wipe it. Null on the software keystore, or when the test chose a
 * keystore itself (WARDEN_KEYSTORE_TYPE in its env).
 */
export function testTokenFor(dataDir: string, env: Record<string, string> | undefined): { token: TestToken; env: Record<string, string>; drop(): void } | null {
  if (!ON_PKCS11 || env?.WARDEN_KEYSTORE_TYPE) return null;
  let token = byDataDir.get(dataDir);
  if (!token) {
    token = provisionToken();
    byDataDir.set(dataDir, token);
  }
  const chosen = token;
  return {
    token: chosen,
    env: chosen.env,
    drop() {
      byDataDir.delete(dataDir);
      chosen.wipe();
    },
  };
}

/** Token of a runtime's data directory in the PKCS#11 pass (tests that look at the token directly). */
export function tokenOf(dataDir: string): TestToken | null {
  return byDataDir.get(dataDir) ?? null;
}

/** The process-wide PKCS#11 handle on SoftHSM (tests that call the token directly: C_FindObjects, C_Sign). */
export function softhsm(): pkcs11js.PKCS11 {
  return library();
}
