// The connection to one PKCS#11 token: the library loaded once per process, one login (CKU_USER), a
// pool of sessions (one per concurrent operation), object handles cached by CKA_ID. When the token or
// the library resets (device removed, library finalised, sessions invalidated) the next operation
// re-initialises, logs in again and retries once.
import { createRequire } from 'node:module';
import type * as Pkcs11Types from 'pkcs11js';
import { WardenError } from '../../server/errors.ts';

const require = createRequire(import.meta.url);
export const pkcs11: typeof Pkcs11Types = require('pkcs11js');
export type Module = Pkcs11Types.PKCS11;
export type Handle = Buffer;

export interface Pkcs11Options {
  library: string;
  tokenLabel?: string | null;
  slot?: number | null;
  pin: string;
  sessions: number;
}

/** CKR_* codes after which the library, the sessions or the login are gone: start over once. */
const RESET_CODES = new Set([
  0xb3, // CKR_SESSION_HANDLE_INVALID
  0xb0, // CKR_SESSION_CLOSED
  0x32, // CKR_DEVICE_REMOVED
  0x30, // CKR_DEVICE_ERROR
  0xe0, // CKR_TOKEN_NOT_PRESENT
  0x190, // CKR_CRYPTOKI_NOT_INITIALIZED
  0x101, // CKR_USER_NOT_LOGGED_IN
]);

export function pkcs11Code(e: unknown): number | null {
  return e instanceof pkcs11.Pkcs11Error ? e.code : null;
}

export function pkcs11Name(e: unknown): string {
  return e instanceof pkcs11.Pkcs11Error ? e.message : e instanceof Error ? e.message : String(e);
}

/** No object with the CKA_ID asked for: the row points at nothing the library knows of (yet). */
class MissingObjectError extends WardenError {}

export interface SessionContext {
  m: Module;
  session: Handle;
  /** The token object with this CKA_ID and class (cached; looked up again after a reset). */
  find(id: Buffer, cls: number): Handle;
}

/**
 * The library is process-wide (dlopen returns one handle, C_Initialize/C_Finalize act on all users):
 * one entry per library path, initialised by the first pool and finalised by the last one to close.
 */
interface Library {
  m: Module;
  users: number;
  /** False when someone else in the process had initialised it: then it is theirs to finalise. */
  ours: boolean;
}
const libraries = new Map<string, Library>();

/** True when this call initialised the library. */
function initialize(m: Module): boolean {
  try {
    m.C_Initialize({ flags: pkcs11.CKF_OS_LOCKING_OK });
    return true;
  } catch (e) {
    if (pkcs11Code(e) !== 0x191) throw e; // CKR_CRYPTOKI_ALREADY_INITIALIZED: another user in this process
    return false;
  }
}

function acquireLibrary(path: string): Library {
  let lib = libraries.get(path);
  if (!lib) {
    const m = new pkcs11.PKCS11();
    try {
      m.load(path);
    } catch (e) {
      throw new WardenError(503, `PKCS#11 library ${path} cannot be loaded: ${pkcs11Name(e)}`);
    }
    lib = { m, users: 0, ours: false };
    libraries.set(path, lib);
  }
  const initialised = initialize(lib.m);
  if (lib.users === 0) lib.ours = initialised;
  lib.users++;
  return lib;
}

function releaseLibrary(path: string, lib: Library): void {
  lib.users--;
  if (lib.users > 0) return;
  libraries.delete(path);
  if (!lib.ours) return;
  try {
    lib.m.C_Finalize();
  } catch {
    // already finalised
  }
}

export class SessionPool {
  private lib: Library | null = null;
  private slot: Buffer | null = null;
  /** Every session of this pool (free or in use) of the current generation. */
  private all: Handle[] = [];
  private free: Handle[] = [];
  private readonly waiters: ((s: Handle) => void)[] = [];
  private generation = 0;
  private readonly handles = new Map<string, Handle>();
  /** Mechanisms of the token (CKM_* numbers), read at connect. */
  mechanisms = new Set<number>();
  tokenLabel = '';
  /** How many times the pool re-opened its sessions after a reset (metrics, tests). */
  resets = 0;
  /** A re-initialisation of the library in progress (reindex): sessions are neither handed out nor passed on. */
  private reindexing: Promise<void> | null = null;
  private lastReindex = 0;

  constructor(private readonly opts: Pkcs11Options) {}

  /** Loads the library (once per process), finds the token, opens the sessions and logs in. Idempotent. */
  connect(): void {
    if (this.lib) return;
    const lib = acquireLibrary(this.opts.library);
    try {
      this.openSessions(lib.m);
    } catch (e) {
      releaseLibrary(this.opts.library, lib);
      throw e;
    }
    this.lib = lib;
  }

  private openSessions(m: Module): void {
    // The slot list is read again each time: tokens created since the last look appear (softhsm2-util).
    this.slot = this.findSlot(m);
    this.tokenLabel = m.C_GetTokenInfo(this.slot).label.trim();
    this.mechanisms = new Set(m.C_GetMechanismList(this.slot));
    const sessions: Handle[] = [];
    try {
      for (let i = 0; i < this.opts.sessions; i++) sessions.push(m.C_OpenSession(this.slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION));
      m.C_Login(sessions[0], pkcs11.CKU_USER, this.opts.pin);
    } catch (e) {
      const code = pkcs11Code(e);
      if (code !== 0x100) { // CKR_USER_ALREADY_LOGGED_IN: the login is per process and token, shared by pools
        for (const s of sessions) closeQuietly(m, s);
        if (code === 0xa0 || code === 0xa4) throw new WardenError(503, `PKCS#11 token '${this.tokenLabel}': the PIN was refused (${pkcs11Name(e)})`);
        throw e;
      }
    }
    this.all = sessions;
    this.free = [...sessions];
    this.handles.clear();
    // Sessions re-opened after a reset go to whoever was waiting for one.
    while (this.waiters.length > 0 && this.free.length > 0) (this.waiters.shift() as (s: Handle) => void)(this.free.pop() as Handle);
  }

  private findSlot(m: Module): Buffer {
    const slots = m.C_GetSlotList(true);
    for (const slot of slots) {
      if (this.opts.slot !== undefined && this.opts.slot !== null) {
        if (Number(slot.readBigUInt64LE(0)) === this.opts.slot) return slot;
        continue;
      }
      if (m.C_GetTokenInfo(slot).label.trim() === this.opts.tokenLabel) return slot;
    }
    const what = this.opts.slot !== undefined && this.opts.slot !== null ? `slot ${this.opts.slot}` : `token label '${this.opts.tokenLabel}'`;
    throw new WardenError(503, `PKCS#11: no initialised token with ${what} (library ${this.opts.library}, ${slots.length} slot(s) with a token)`);
  }

  private acquire(): Promise<Handle> {
    if (this.reindexing) return this.reindexing.then(() => this.acquire());
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(s: Handle, generation: number): void {
    if (generation !== this.generation) return; // a session of the library before the reset
    if (this.reindexing) {
      this.free.push(s);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(s);
    else this.free.push(s);
  }

  /**
   * Re-opens this pool's sessions (unless another call already did). Re-initialises the library only
   * when it is not initialised, or when this pool is its only user: never under another pool's feet.
   */
  private reset(generation: number): void {
    if (generation !== this.generation || !this.lib) return;
    this.generation++;
    this.resets++;
    const lib = this.lib;
    for (const s of this.all) closeQuietly(lib.m, s);
    this.all = [];
    this.free = [];
    try {
      this.openSessions(lib.m);
    } catch (e) {
      const code = pkcs11Code(e);
      if (code === 0x190) initialize(lib.m); // CKR_CRYPTOKI_NOT_INITIALIZED (ownership stays as it was)
      else if (lib.users === 1 && lib.ours) {
        try {
          lib.m.C_Finalize();
        } catch {
          // already finalised
        }
        initialize(lib.m);
      } else throw e;
      this.openSessions(lib.m);
    }
  }

  /** Runs `fn` on a session of its own; a reset of the token is recovered from once. */
  async run<T>(fn: (ctx: SessionContext) => Promise<T> | T): Promise<T> {
    this.connect();
    let reindexFrom: number | null = null;
    for (let attempt = 0; ; attempt++) {
      if (reindexFrom !== null) await this.reindex(reindexFrom);
      const generation = this.generation;
      let session = await this.acquire();
      const m = (this.lib as Library).m;
      try {
        return await fn({ m, session, find: (id, cls) => this.find(m, session, id, cls) });
      } catch (e) {
        // A call that failed between C_*Init and its final call may leave the operation active on the
        // session (SoftHSM checks arguments first): the session is replaced, never handed on poisoned.
        session = this.replace(session, generation);
        const code = pkcs11Code(e);
        if (attempt === 0 && code !== null && RESET_CODES.has(code)) {
          this.reset(generation);
          continue;
        }
        // A cached handle of an object another node (or process) destroyed or re-created: look again.
        if (attempt === 0 && (code === 0x82 || code === 0x60)) {
          this.handles.clear();
          continue;
        }
        // An object another process created that this library does not list: look again on a fresh index.
        // (Calls that missed it while a re-index was starting or done wait for it / retry on the fresh one.)
        if (attempt === 0 && e instanceof MissingObjectError && (this.reindexing || generation !== this.generation || this.mayReindex())) {
          reindexFrom = generation;
          continue;
        }
        throw e;
      } finally {
        this.release(session, generation);
      }
    }
  }

  /** Only a pool that is the library's one user in the process, and initialised it, re-initialises it (at most once a second). */
  private mayReindex(): boolean {
    const lib = this.lib;
    return !!lib && lib.users === 1 && lib.ours && Date.now() - this.lastReindex >= 1000;
  }

  /**
   * SoftHSM (file store) can miss an object another process was writing while this one read the token
   * directory: the half-written file stays invalid in this process, so the object is never listed
   * (serve --workers: a key made through one worker, "missing" in the other). Re-initialising the
   * library re-reads every object. Nothing may run meanwhile (in-flight calls would lose their
   * session under the threadpool), so the pool first waits for every session to come back.
   */
  private reindex(generation: number): Promise<void> {
    if (this.reindexing) return this.reindexing;
    const lib = this.lib;
    if (generation !== this.generation || !lib || !this.mayReindex()) return Promise.resolve();
    this.lastReindex = Date.now();
    this.reindexing = (async () => {
      // A caller that holds a session while it waits for another (none should) must not deadlock this: give up after 5 s.
      const deadline = Date.now() + 5000;
      while (this.free.length < this.all.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      if (this.free.length < this.all.length) return;
      this.generation++;
      this.resets++;
      for (const s of this.all) closeQuietly(lib.m, s);
      this.all = [];
      this.free = [];
      try {
        lib.m.C_Finalize();
      } catch {
        // not initialised
      }
      initialize(lib.m);
      this.reindexing = null;
      this.openSessions(lib.m);
    })().finally(() => {
      this.reindexing = null;
    });
    return this.reindexing;
  }

  /** Closes a session that may carry an unfinished operation and opens a fresh one in its place. */
  private replace(session: Handle, generation: number): Handle {
    const lib = this.lib;
    if (generation !== this.generation || !lib || !this.slot) return session;
    try {
      const fresh = lib.m.C_OpenSession(this.slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
      closeQuietly(lib.m, session);
      this.all = this.all.map((s) => (s === session ? fresh : s));
      return fresh;
    } catch {
      return session; // the token is going away: the reset path deals with it
    }
  }

  private find(m: Module, session: Handle, id: Buffer, cls: number): Handle {
    const key = `${cls}:${id.toString('hex')}`;
    const cached = this.handles.get(key);
    if (cached) return cached;
    m.C_FindObjectsInit(session, [{ type: pkcs11.CKA_CLASS, value: cls }, { type: pkcs11.CKA_ID, value: id }, { type: pkcs11.CKA_TOKEN, value: true }]);
    let found: Handle[];
    try {
      found = m.C_FindObjects(session, 2);
    } finally {
      m.C_FindObjectsFinal(session);
    }
    if (found.length === 0) throw new MissingObjectError(701, `the token object ${id.toString('hex')} is missing from token '${this.tokenLabel}'`);
    // Warden's CKA_IDs are 16 random bytes, so two objects of one class with the same id are SoftHSM's
    // file store listing one object twice (seen with serve --workers 2 while another process wrote it):
    // an inconsistent view like a missing object, looked up again on a fresh index before it is a 701.
    if (found.length !== 1) throw new MissingObjectError(701, `token '${this.tokenLabel}' holds several objects with CKA_ID ${id.toString('hex')}`);
    this.handles.set(key, found[0]);
    return found[0];
  }

  /** Forgets a destroyed object's handle. */
  forget(id: Buffer): void {
    for (const k of [...this.handles.keys()]) if (k.endsWith(`:${id.toString('hex')}`)) this.handles.delete(k);
  }

  /** Simulates the library going away under the pool (tests): finalises it for every user. */
  finalizeForTest(): void {
    this.lib?.m.C_Finalize();
  }

  /** Closes this pool's sessions; the library is finalised when its last pool closes. */
  close(): void {
    const lib = this.lib;
    if (!lib) return;
    this.lib = null;
    for (const s of this.all) closeQuietly(lib.m, s);
    this.all = [];
    this.free = [];
    releaseLibrary(this.opts.library, lib);
  }
}

function closeQuietly(m: Module, s: Handle): void {
  try {
    m.C_CloseSession(s);
  } catch {
    // the session is already gone (reset, finalised library)
  }
}
