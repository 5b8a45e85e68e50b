// File encryption (spec §4.9; role keyOperationToken): POST /v1/fileEncrypt and
// /v1/synchronousFileDecrypt take multipart/form-data (a JSON request part, then the `file` part)
// and answer application/octet-stream. ECIES with an EC P-384 key; container format in
// docs/file-encryption.md. Uploads are spooled to disk as ciphertext only: decryption verifies the
// whole file first and releases plaintext only once every chunk has authenticated.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, openSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { FileHeaderError, P384_OID, openFileKey, openFileKeyWith, recipientKeyId, type FileKey } from '../crypto/ecies/format.ts';
import { DecryptStream, EncryptStream, FileAuthError } from '../crypto/ecies/stream.ts';
import type { KeyInfo } from '../keystore/interface.ts';
import { WardenError } from '../server/errors.ts';
import type { Services } from '../server/services.ts';
import type { RouteGroup } from './route.ts';
import { errorResponses, passwordOf, type WirePassword } from './wire.ts';

const ROLES = ['keyOperationToken'] as const;
const TAGS = ['Key operations'];
const MAX_REQUEST_PART = 64 * 1024;
/** Room for the boundaries, part headers and the JSON part on top of the file itself. */
const MULTIPART_OVERHEAD = 1024 * 1024;

interface FileRequest {
  keyName: string;
  password: string | null;
}

/** Reads `{ "<wrapper>": { "<nameField>": "...", "keyPassword": ... } }` (or the flat inner object). */
function parseFileRequest(value: unknown, wrapper: string, nameField: string): FileRequest {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new WardenError(621, `The ${wrapper} part is not valid JSON`);
    }
  }
  if (!value || typeof value !== 'object') throw new WardenError(600, `The request part must be a JSON object with ${wrapper}`);
  const outer = value as Record<string, unknown>;
  const inner = (outer[wrapper] ?? outer) as Record<string, unknown>;
  if (!inner || typeof inner !== 'object') throw new WardenError(600, `${wrapper} must be an object`);
  const name = inner[nameField];
  if (typeof name !== 'string' || name === '') throw new WardenError(600, `${wrapper}.${nameField} is required`);
  const pw = inner.keyPassword;
  const validPw = pw === undefined || pw === null || typeof pw === 'string' || (Array.isArray(pw) && pw.every((c) => typeof c === 'string' && c.length === 1));
  if (!validPw) throw new WardenError(600, `${wrapper}.keyPassword must be an array of one-character strings, a string or null`);
  return { keyName: name, password: passwordOf(pw as WirePassword) };
}

async function readSmall(stream: Readable): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_PART) throw new WardenError(600, 'The request part is larger than 64 KiB');
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Multipart plumbing errors (busboy/@fastify/multipart) in Warden's codes. */
function multipartError(e: unknown): WardenError {
  if (e instanceof WardenError) return e;
  const code = (e as { code?: string })?.code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') return new WardenError(600, 'The file is larger than server.fileUploadLimitBytes', { status: 413 });
  if (code === 'FST_INVALID_JSON_FIELD_ERROR') return new WardenError(621, 'The request part is not valid JSON');
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') return new WardenError(600, 'Too many multipart parts: send one JSON request part and one file part');
  if (e instanceof FileHeaderError) return new WardenError(623, e.message);
  if (e instanceof FileAuthError) return new WardenError(410, e.message);
  return new WardenError(600, `Malformed multipart/form-data body: ${(e as Error)?.message ?? 'unreadable'}`);
}

/**
 * Walks the parts: the JSON request (any part not named `file`; a field or a small file part) must
 * come before the `file` part, which `onFile` consumes as a stream. Returns what `onFile` returned.
 */
async function withUploadedFile<T>(
  req: FastifyRequest,
  limit: number,
  parseRequest: (value: unknown) => FileRequest,
  onFile: (request: FileRequest, file: Readable, filename: string) => Promise<T>,
): Promise<T> {
  if (!req.isMultipart()) throw new WardenError(600, 'Send multipart/form-data with a JSON request part and a file part', { status: 415 });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit + MULTIPART_OVERHEAD) {
    throw new WardenError(600, `The upload (${declared} bytes) is larger than server.fileUploadLimitBytes (${limit})`, { status: 413 });
  }
  let request: FileRequest | null = null;
  let result: { value: T } | null = null;
  let fileBeforeRequest = false;
  try {
    for await (const part of req.parts({ limits: { fileSize: limit, files: 2, fields: 4, parts: 6 } })) {
      if (part.fieldname !== 'file') {
        const value = part.type === 'field' ? part.value : await readSmall(part.file);
        request = parseRequest(value);
        req.auditLabel = request.keyName;
        continue;
      }
      if (result) throw new WardenError(600, 'Only one file part is allowed');
      if (!request) {
        // Drain it and go on: a JSON part that failed to parse is reported by the iterator (621).
        if (part.type === 'file') for await (const _chunk of part.file) void _chunk;
        fileBeforeRequest = true;
        continue;
      }
      const stream = part.type === 'file' ? part.file : PassThrough.from([Buffer.from(String(part.value), 'utf8')]);
      const value = await onFile(request, stream, part.type === 'file' ? part.filename : 'file');
      if (part.type === 'file' && part.file.truncated) throw new WardenError(600, 'The file is larger than server.fileUploadLimitBytes', { status: 413 });
      result = { value };
    }
  } catch (e) {
    // The rest of the upload is no longer read by anyone: detach the multipart parser and let the
    // request flow to nowhere, as Node does for unread bodies; a paused request would keep the
    // connection (and a graceful shutdown) waiting until the request timeout.
    req.raw.unpipe();
    req.raw.resume();
    throw multipartError(e);
  }
  if (fileBeforeRequest) throw new WardenError(600, 'The JSON request part must come before the file part');
  if (!request) throw new WardenError(600, 'The JSON request part is missing');
  if (!result) throw new WardenError(600, 'The file part is missing');
  return result.value;
}

function requireP384(info: KeyInfo): void {
  if (info.algorithm !== 'EC') throw new WardenError(613, `File encryption needs an EC P-384 key; '${info.label}' is a ${info.algorithm} key`);
  if (info.curveOid !== P384_OID) throw new WardenError(607, `File encryption needs an EC P-384 key (curve ${P384_OID}); '${info.label}' uses ${info.curveOid}`);
}

let spoolChecked = false;

/** Spool directory for ciphertext under the data directory (not /tmp, which may be RAM). */
function spoolFile(s: Services): string {
  const dir = path.join(s.config.dataDir, 'tmp', 'file-encryption');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!spoolChecked) {
    // Leftovers of a crash (ciphertext only) older than a day are removed once per process.
    spoolChecked = true;
    for (const f of readdirSync(dir)) {
      const p = path.join(dir, f);
      try {
        if (Date.now() - statSync(p).mtimeMs > 86_400_000) rmSync(p, { force: true });
      } catch {
        // raced with another request's cleanup
      }
    }
  }
  return path.join(dir, `${randomUUID()}.bin`);
}

/** Created synchronously so that an early failure can never race the file's creation past removeQuietly. */
function spoolWriter(p: string): NodeJS.WritableStream {
  return createWriteStream(p, { fd: openSync(p, 'wx', 0o600) });
}

function removeQuietly(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // already gone
  }
}

function downloadName(filename: string, encrypt: boolean): string {
  const base = (filename || 'file').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
  if (encrypt) return `${base}.encrypted`;
  return base.endsWith('.encrypted') && base.length > '.encrypted'.length ? base.slice(0, -'.encrypted'.length) : `${base}.decrypted`;
}

/** Streams the spooled file (optionally through `transform`) as the response; the spool goes when the response ends. */
function sendSpooled(reply: FastifyReply, spool: string, filename: string, transform?: DecryptStream): FastifyReply {
  const out = new PassThrough();
  const source = createReadStream(spool);
  // A failure here (the spool changed on disk) can only happen after the status line went out:
  // fastify then destroys the connection, so the client sees an aborted transfer, never a clean end.
  (transform ? pipeline(source, transform, out) : pipeline(source, out)).catch(() => undefined);
  reply.raw.once('close', () => removeQuietly(spool));
  return reply
    .header('content-type', 'application/octet-stream')
    .header('content-disposition', `attachment; filename="${filename}"`)
    .send(out);
}

const MultipartDescription = (wrapper: string, fields: string) =>
  `Role: keyOperationToken. multipart/form-data with two parts, in this order: a JSON part (any name other than \`file\`, ` +
  `e.g. \`SignedFileEncryptRequestDto\`) holding \`{"${wrapper}": {${fields}}}\`, and the \`file\` part. ` +
  'The key must be an EC P-384 key (curve 1.3.132.0.34). Container format: docs/file-encryption.md.';

export const fileEncryptionRoutes: RouteGroup = () => [
  {
    method: 'POST', url: '/v1/fileEncrypt', roles: ROLES, operationId: 'fileEncrypt', tags: TAGS,
    summary: 'Encrypt a file for an EC P-384 key (ECIES: ECDH + HKDF-SHA-384 + AES-256-GCM chunks)',
    description: MultipartDescription('fileEncryptRequest', '"encryptKeyName": "<P-384 key>", "keyPassword": optional'),
    produces: 'application/octet-stream',
    response: { 200: Type.String({ format: 'binary', description: 'The encrypted file (application/octet-stream)' }), ...errorResponses },
    handler: async (req, reply, s) => {
      const spool = spoolFile(s);
      try {
        const filename = await withUploadedFile(
          req,
          s.config.server.fileUploadLimitBytes,
          (v) => parseFileRequest(v, 'fileEncryptRequest', 'encryptKeyName'),
          async (request, file, name) => {
            const peeked = await s.keystore.peek(request.keyName);
            if (!peeked) throw new WardenError(650, `Key '${request.keyName}' does not exist`);
            // The key holder's derive attribute governs (spec §4.9); a public-only import needs encrypt.
            const usage = peeked.keyClass === 'public' ? 'encrypt' : 'derive';
            const spki = await s.keystore.use(request.keyName, request.password, usage, ({ info }) => {
              requireP384(info);
              return info.publicKey as Buffer;
            });
            await pipeline(file, new EncryptStream(spki), spoolWriter(spool));
            return name;
          },
        );
        return sendSpooled(reply, spool, downloadName(filename, true));
      } catch (e) {
        removeQuietly(spool);
        throw e;
      }
    },
  },
  {
    method: 'POST', url: '/v1/synchronousFileDecrypt', roles: ROLES, operationId: 'fileDecrypt', tags: TAGS,
    summary: 'Decrypt a file encrypted by /v1/fileEncrypt (all of it authenticates before any plaintext is sent)',
    description: MultipartDescription('fileDecryptRequest', '"decryptKeyName": "<P-384 key>", "keyPassword": ["p","w"]') +
      ' A malformed container is 400/623, an altered, truncated, reordered or foreign file 400/410.',
    produces: 'application/octet-stream',
    response: { 200: Type.String({ format: 'binary', description: 'The decrypted file (application/octet-stream)' }), ...errorResponses },
    handler: async (req, reply, s) => {
      const spool = spoolFile(s);
      try {
        const { fileKey, header, filename } = await withUploadedFile(
          req,
          s.config.server.fileUploadLimitBytes,
          (v) => parseFileRequest(v, 'fileDecryptRequest', 'decryptKeyName'),
          async (request, file, name) => {
            let fk: FileKey | null = null;
            let hdr: Buffer | null = null;
            const verifier = new DecryptStream({
              output: 'verify',
              resolveKey: async (h) => {
                hdr = h.raw;
                fk = await s.keystore.use(request.keyName, request.password, 'derive', ({ info, material }) => {
                  requireP384(info);
                  if (!recipientKeyId(info.publicKey as Buffer).equals(h.keyId)) {
                    throw new WardenError(410, `The file was encrypted for another key than '${request.keyName}'`);
                  }
                  // A key on a PKCS#11 token agrees there (CKM_ECDH1_DERIVE); the KDF and the file stay here.
                  const token = material.token;
                  if (token) return openFileKeyWith((point) => token.ecdh(point), h);
                  if (!material.privateKey) throw new WardenError(613, `Key '${request.keyName}' has no private key`);
                  return openFileKey(material.privateKey, h);
                });
                return fk;
              },
            });
            // Pass 1: authenticate every chunk while spooling the ciphertext; no plaintext leaves.
            await pipeline(file, verifier, spoolWriter(spool));
            if (!verifier.complete || !fk || !hdr) throw new WardenError(410, 'The file did not authenticate');
            return { fileKey: fk as FileKey, header: hdr as Buffer, filename: name };
          },
        );
        // Pass 2: decrypt the verified spool into the response.
        const decryptor = new DecryptStream({
          output: 'plaintext',
          resolveKey: async (h) => {
            if (!h.raw.equals(header)) throw new FileAuthError('the spooled file changed between verification and decryption');
            return fileKey;
          },
        });
        return sendSpooled(reply, spool, downloadName(filename, false), decryptor);
      } catch (e) {
        removeQuietly(spool);
        throw multipartError(e);
      }
    },
  },
];
