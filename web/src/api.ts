// Calls to Warden from the console: JSON in and out, the approver API key (approverToken) when set,
// and errors turned into sentences an approver can act on (wrong code, expired task, server unreachable).

export class ConsoleError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errorCode: number | null,
  ) {
    super(message);
    this.name = 'ConsoleError';
  }
}

interface ErrorBody {
  errorCode?: number;
  reason?: string;
  message?: string;
}

/** A readable sentence for a Warden error body (codes of docs/errors.md). */
export function explain(status: number, body: ErrorBody | null): string {
  const code = body?.errorCode ?? null;
  const detail = body?.message ? ` (${body.message})` : '';
  switch (code) {
    case 412:
      return `The one-time code was not accepted: it is wrong, already used, expired or locked. Ask your approver manager for a new one.${detail}`;
    case 413:
      return `There is no approver of that name on this Warden.${detail}`;
    case 416:
      return 'This Warden needs the approver API key: enter it under Settings.';
    case 631:
      return 'The approver API key is wrong: check it under Settings.';
    case 652:
      return `This task is no longer open: it was decided, cancelled or it expired.${detail}`;
    case 404:
      return `Warden refused the signed timestamp: check that this device's clock is right.${detail}`;
    case 403:
      return `Warden refused the signature of this browser's key.${detail}`;
    case 600:
    case 633:
      return `Some input is missing or invalid${detail}.`;
    default:
      return body?.message ? `Warden answered ${status}: ${body.message}` : `Warden answered with HTTP ${status}.`;
  }
}

export async function call<T>(path: string, body: unknown, apiKey: string | null, method = 'POST'): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (apiKey) headers['x-api-key'] = apiKey;
  let r: Response;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new ConsoleError('Warden is unreachable: check the network connection, then try again.', 0, null);
  }
  const text = await r.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!r.ok) {
    const eb = (json && typeof json === 'object' ? json : null) as ErrorBody | null;
    throw new ConsoleError(explain(r.status, eb), r.status, eb?.errorCode ?? null);
  }
  return json as T;
}
