// The 256-bit master key of the software keystore and the subkeys derived from it (HKDF-SHA256).
// A key check value in the database binds the store to one master key: a missing or different key
// with existing sealed data refuses the start instead of creating a new key over it.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync, openSync, fsyncSync, closeSync } from 'node:fs';
import path from 'node:path';

export class MasterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MasterKeyError';
  }
}

export class MasterKey {
  readonly sealKey: Buffer;
  readonly checkValue: string;

  constructor(private readonly raw: Buffer) {
    if (raw.length !== 32) throw new MasterKeyError('master key must be 32 bytes');
    this.sealKey = Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'warden/seal/v1', 32));
    this.checkValue = createHmac('sha256', Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'warden/check/v1', 32)))
      .update('warden master key check')
      .digest('hex');
  }

  static generate(): MasterKey {
    return new MasterKey(randomBytes(32));
  }

  matches(checkValue: string): boolean {
    const a = Buffer.from(this.checkValue, 'hex');
    const b = Buffer.from(checkValue, 'hex');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** File form: 64 hex characters and a newline. */
  toFileText(): string {
    return this.raw.toString('hex') + '\n';
  }
}

export function readMasterKeyFile(file: string): MasterKey | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new MasterKeyError(`master key file ${file} is not 64 hex characters`);
  return new MasterKey(Buffer.from(text, 'hex'));
}

/** Writes a key file atomically (temp file, fsync, rename), mode 0600. */
export function writeMasterKeyFile(file: string, key: MasterKey): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, key.toFileText(), { mode: 0o600, flag: 'w' });
  const fd = openSync(tmp, 'r');
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, file);
}
