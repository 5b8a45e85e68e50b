// Streaming encryption and decryption of the file container (format.ts). Memory stays bounded by
// one chunk plus one input buffer; decryption releases a chunk's plaintext only after its GCM tag
// verified, and the last-chunk flag in the nonce makes a truncated or extended file fail.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { FileHeaderError, HEADER_LENGTH, TAG_LENGTH, chunkNonce, newFileKey, parseHeader, type FileHeader, type FileKey } from './format.ts';

/** An authentication failure (→ 410 res.error.decrypt.failed). */
export class FileAuthError extends Error {}

/** A FIFO of buffers that hands out exact-size slices without re-copying on every write. */
class ByteQueue {
  private parts: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.length += b.length;
  }

  take(n: number): Buffer {
    if (n > this.length) throw new Error('ByteQueue underflow');
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.parts[0];
      const need = n - filled;
      if (head.length <= need) {
        head.copy(out, filled);
        filled += head.length;
        this.parts.shift();
      } else {
        head.copy(out, filled, 0, need);
        this.parts[0] = head.subarray(need);
        filled += need;
      }
    }
    this.length -= n;
    return out;
  }
}

function seal(fileKey: FileKey, counter: number, last: boolean, plaintext: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', fileKey.key, chunkNonce(fileKey, counter, last), { authTagLength: TAG_LENGTH });
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

function open(fileKey: FileKey, counter: number, last: boolean, sealed: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', fileKey.key, chunkNonce(fileKey, counter, last), { authTagLength: TAG_LENGTH });
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
  const head = d.update(sealed.subarray(0, sealed.length - TAG_LENGTH));
  try {
    return Buffer.concat([head, d.final()]);
  } catch {
    throw new FileAuthError(
      last
        ? `chunk ${counter} (the last one) failed authentication: the file is altered, truncated or not encrypted for this key`
        : `chunk ${counter} failed authentication: the file is altered, reordered or not encrypted for this key`,
    );
  }
}

/** plaintext in → header + sealed chunks out. */
export class EncryptStream extends Transform {
  private readonly queue = new ByteQueue();
  private readonly fileKey: FileKey;
  private header: Buffer | null;
  private counter = 0;

  constructor(recipientSpki: Buffer, chunkSize?: number) {
    super();
    const { header, fileKey } = newFileKey(recipientSpki, chunkSize);
    this.header = header;
    this.fileKey = fileKey;
  }

  private emitHeader(): void {
    if (this.header) {
      this.push(this.header);
      this.header = null;
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.emitHeader();
      this.queue.push(chunk);
      // A chunk is sealed as non-final only once we know more data follows it.
      while (this.queue.length > this.fileKey.chunkSize) this.push(seal(this.fileKey, this.counter++, false, this.queue.take(this.fileKey.chunkSize)));
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.emitHeader();
      this.push(seal(this.fileKey, this.counter++, true, this.queue.take(this.queue.length)));
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}

export interface DecryptStreamOptions {
  /** Called once with the parsed header; returns the file key (opens the recipient key). */
  resolveKey(header: FileHeader): Promise<FileKey>;
  /**
   * 'plaintext': emit authenticated plaintext. 'verify': authenticate every chunk but emit the
   * ciphertext input unchanged (the first pass that spools the upload to disk).
   */
  output: 'plaintext' | 'verify';
}

/** container in → plaintext (or the verified container) out; errors are FileHeaderError / FileAuthError. */
export class DecryptStream extends Transform {
  private readonly queue = new ByteQueue();
  private fileKey: FileKey | null = null;
  private counter = 0;
  private finished = false;

  constructor(private readonly opts: DecryptStreamOptions) {
    super();
  }

  private drain(): void {
    const key = this.fileKey as FileKey;
    const sealedSize = key.chunkSize + TAG_LENGTH;
    while (this.queue.length > sealedSize) {
      const plain = open(key, this.counter++, false, this.queue.take(sealedSize));
      if (this.opts.output === 'plaintext') this.push(plain);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.opts.output === 'verify') this.push(chunk);
    this.queue.push(chunk);
    if (this.fileKey) {
      try {
        this.drain();
        cb();
      } catch (e) {
        cb(e as Error);
      }
      return;
    }
    if (this.queue.length < HEADER_LENGTH) return cb();
    let header: FileHeader;
    try {
      header = parseHeader(this.queue.take(HEADER_LENGTH));
    } catch (e) {
      return cb(e as Error);
    }
    this.opts.resolveKey(header).then(
      (key) => {
        this.fileKey = key;
        try {
          this.drain();
          cb();
        } catch (e) {
          cb(e as Error);
        }
      },
      (e: Error) => cb(e),
    );
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (!this.fileKey) throw new FileHeaderError('the file is shorter than the container header');
      if (this.queue.length < TAG_LENGTH) throw new FileAuthError('the file is truncated: the last chunk is missing');
      const plain = open(this.fileKey, this.counter++, true, this.queue.take(this.queue.length));
      this.finished = true;
      if (this.opts.output === 'plaintext') this.push(plain);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  /** Whether the final chunk was authenticated (the whole container is intact). */
  get complete(): boolean {
    return this.finished;
  }
}
