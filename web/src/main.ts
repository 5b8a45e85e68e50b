// The approver console (docs/approvers.md): set up this browser's approver key (onboard with a one-time
// code, or make a key here and hand its public key to whoever writes the policy), list my open tasks
// with what they approve, approve or reject with one click (signed here), and follow the request.
import './style.css';
import { call, ConsoleError } from './api.ts';
import { asText, fromB64, hex } from './bytes.ts';
import { decodeChallenge } from './challenge.ts';
import { approvalOf, createBrowserIdentity, forgetIdentity, loadIdentity, proofOf, saveIdentity, type Identity } from './identity.ts';
import { onboard } from './onboard.ts';

interface Task {
  id: string;
  requestId: string;
  approvalToBeSigned: string;
  metaData?: string | null;
  payloadType?: string | null;
  [k: string]: unknown;
}

interface RequestStatus {
  requestId: string;
  type: string;
  keyName: string;
  status: string;
  executionTime: string | null;
  myDecision: string | null;
}

type Child = Node | string | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | ((e: Event) => void)> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const main = document.getElementById('main') as HTMLElement;
const notice = document.getElementById('notice') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;

const API_KEY = 'warden.console.apiKey';
const apiKey = () => localStorage.getItem(API_KEY) || null;

let identity: Identity | null = null;
const decided = new Map<string, { requestId: string; decision: string; status: RequestStatus | null; error: string | null }>();

function say(message: string, kind: 'ok' | 'error' = 'ok'): void {
  notice.hidden = false;
  notice.className = `notice ${kind}`;
  notice.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  notice.textContent = message;
}

function errorText(e: unknown): string {
  return e instanceof ConsoleError ? e.message : e instanceof Error ? `Something went wrong: ${e.message}` : 'Something went wrong.';
}

/** Disables a form's controls while `fn` runs, so a double click sends nothing twice. */
async function busy(el: HTMLElement, fn: () => Promise<void>): Promise<void> {
  const controls = [...el.querySelectorAll('button, input')] as (HTMLButtonElement | HTMLInputElement)[];
  controls.forEach((c) => (c.disabled = true));
  el.setAttribute('aria-busy', 'true');
  try {
    await fn();
  } catch (e) {
    say(errorText(e), 'error');
  } finally {
    controls.forEach((c) => (c.disabled = false));
    el.removeAttribute('aria-busy');
  }
}

function field(id: string, label: string, attrs: Record<string, string | boolean> = {}, hint?: string): HTMLElement {
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, name: id, ...attrs, ...(hint ? { 'aria-describedby': `${id}-hint` } : {}) }),
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null);
}

const value = (id: string) => (document.getElementById(id) as HTMLInputElement).value.trim();

// --- Set-up ------------------------------------------------------------------------------------------

function setupView(): HTMLElement {
  const onboardForm = h('form', { id: 'onboard-form', class: 'card', 'aria-labelledby': 'onboard-title' },
    h('h2', { id: 'onboard-title' }, 'Onboard with a one-time code'),
    h('p', {}, 'Your approver manager created your approver and gave you its name, a one-time code and the backup password.'),
    field('onboard-name', 'Approver name', { required: true, autocomplete: 'username', placeholder: 'officer1@example.com' }),
    field('onboard-code', 'One-time code', { required: true, inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: '6' }, 'Six digits, valid once.'),
    field('onboard-password', 'Backup password', { required: true, type: 'password', autocomplete: 'current-password' }),
    h('button', { type: 'submit', class: 'primary' }, 'Onboard'),
  );
  onboardForm.addEventListener('submit', (e) => {
    e.preventDefault();
    void busy(onboardForm, async () => {
      const id = await onboard(value('onboard-name'), value('onboard-code'), (document.getElementById('onboard-password') as HTMLInputElement).value, apiKey());
      await saveIdentity(id);
      identity = id;
      say(`Onboarded as ${id.name}. The key is stored in this browser and cannot be exported.`);
      await render();
    });
  });

  const keyForm = h('form', { id: 'browser-key-form', class: 'card', 'aria-labelledby': 'browser-key-title' },
    h('h2', { id: 'browser-key-title' }, 'Or make a key in this browser'),
    h('p', {}, 'An ECDSA P-256 key is made here and never leaves this browser. Give its public key to whoever writes the key policy.'),
    field('browser-key-name', 'Your name (shown in policies)', { required: true, placeholder: 'officer1@example.com' }),
    h('button', { type: 'submit' }, 'Make a key'),
  );
  keyForm.addEventListener('submit', (e) => {
    e.preventDefault();
    void busy(keyForm, async () => {
      const id = await createBrowserIdentity(value('browser-key-name'));
      await saveIdentity(id);
      identity = id;
      say('A key was made in this browser. Copy its public key into the policy.');
      await render();
    });
  });
  return h('section', { 'aria-label': 'Set up' }, onboardForm, keyForm);
}

function identityView(id: Identity): HTMLElement {
  const snippet = JSON.stringify(
    id.kind === 'onboarded' ? { type: 'onboarded_approver_certificate', name: id.name } : { type: 'public_key', name: id.name, value: id.spki },
  );
  const copy = (text: string, what: string) => async () => {
    try {
      await navigator.clipboard.writeText(text);
      say(`${what} copied.`);
    } catch {
      say(`Select the ${what.toLowerCase()} and copy it by hand.`, 'error');
    }
  };
  const forget = h('button', { type: 'button', class: 'danger', id: 'forget' }, 'Forget this key');
  forget.addEventListener('click', () => {
    if (!confirm('Forget the approver key of this browser? Tasks for it can no longer be approved here.')) return;
    void forgetIdentity().then(() => {
      identity = null;
      decided.clear();
      say('The key was removed from this browser.');
      return render();
    });
  });
  return h('details', { class: 'card', id: 'identity' },
    h('summary', {}, `My approver key (${id.kind === 'onboarded' ? 'onboarded' : 'made in this browser'})`),
    h('div', { class: 'field' }, h('label', { for: 'public-key' }, 'Public key (Base64 SPKI)'), h('textarea', { id: 'public-key', readonly: true, rows: '4' }, id.spki)),
    h('div', { class: 'field' }, h('label', { for: 'policy-snippet' }, 'Approval entry for a policy'), h('textarea', { id: 'policy-snippet', readonly: true, rows: '3' }, snippet)),
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: copy(id.spki, 'Public key') }, 'Copy public key'),
      h('button', { type: 'button', onclick: copy(snippet, 'Policy entry') }, 'Copy policy entry'),
      forget),
  );
}

function settingsView(): HTMLElement {
  const form = h('form', { id: 'settings' },
    field('api-key', 'Approver API key (if this Warden asks for one)', { type: 'password', autocomplete: 'off', value: apiKey() ?? '' }, 'Sent as X-API-KEY; kept in this browser only.'),
    h('button', { type: 'submit' }, 'Save'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = value('api-key');
    if (v) localStorage.setItem(API_KEY, v);
    else localStorage.removeItem(API_KEY);
    say(v ? 'API key saved.' : 'API key removed.');
    void refresh();
  });
  return h('details', { class: 'card' }, h('summary', {}, 'Settings'), form);
}

// --- Tasks -------------------------------------------------------------------------------------------

function describePayload(bytes: Uint8Array | null): string {
  if (!bytes) return '—';
  const text = asText(bytes);
  if (text !== null) return text.length > 500 ? `${text.slice(0, 500)}…` : text;
  const x = hex(bytes);
  return `${bytes.length} bytes: ${x.length > 128 ? `${x.slice(0, 128)}…` : x}`;
}

function describeMeta(b64: string | null | undefined): string | null {
  if (!b64) return null;
  const text = asText(fromB64(b64));
  if (text === null) return `${fromB64(b64).length} bytes of binary metadata`;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function taskCard(t: Task): HTMLElement {
  const c = decodeChallenge(fromB64(t.approvalToBeSigned));
  const meta = describeMeta(t.metaData);
  const params = c.parameters ? Object.entries(c.parameters).filter(([k, v]) => k !== 'requestId' && v !== null && v !== undefined) : [];
  const titleId = `task-${t.id}-title`;
  const dl = h('dl', {},
    h('dt', {}, 'Key'), h('dd', { class: 'key' }, c.keyLabel),
    h('dt', {}, 'Operation'), h('dd', {}, c.operationName),
    ...params.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'string' ? v : JSON.stringify(v))]),
    h('dt', {}, c.policy ? 'New policy' : 'Payload'), h('dd', {}, h('pre', { class: 'payload' }, c.policy ? `${c.policy.length} bytes (binary policy)` : describePayload(c.payload))),
    t.payloadType ? h('dt', {}, 'Payload type') : null, t.payloadType ? h('dd', {}, t.payloadType) : null,
    meta ? h('dt', {}, 'Metadata') : null, meta ? h('dd', {}, h('pre', { class: 'meta' }, meta)) : null,
    h('dt', {}, 'Requested'), h('dd', {}, c.time ? c.time.toLocaleString() : '—'),
    h('dt', {}, 'Request'), h('dd', { class: 'mono' }, t.requestId),
  );
  const approveBtn = h('button', { type: 'button', class: 'primary approve', 'aria-describedby': titleId }, 'Approve');
  const rejectBtn = h('button', { type: 'button', class: 'danger reject', 'aria-describedby': titleId }, 'Reject');
  const card = h('article', { class: 'card task', 'data-task': t.id, 'aria-labelledby': titleId },
    h('h3', { id: titleId }, `${c.operationName} with ${c.keyLabel}`), dl, h('div', { class: 'row' }, approveBtn, rejectBtn));
  const decide = (decision: 'approved' | 'rejected') => () =>
    void busy(card, async () => {
      const id = identity;
      if (!id) return;
      if (decision === 'approved') await call('/v1/approval', await approvalOf(id, t.id, t.approvalToBeSigned), apiKey());
      else await call('/v1/task', { ...(await proofOf(id)), id: t.id }, apiKey(), 'DELETE');
      decided.set(t.id, { requestId: t.requestId, decision, status: null, error: null });
      say(decision === 'approved' ? 'Approved. Your signature was made in this browser.' : 'Rejected.');
      await refresh();
      await followDecisions();
    });
  approveBtn.addEventListener('click', decide('approved'));
  rejectBtn.addEventListener('click', decide('rejected'));
  return card;
}

async function followDecisions(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const id = identity;
    if (!id) return;
    let open = 0;
    for (const d of decided.values()) {
      try {
        d.status = await call<RequestStatus>('/v1/filteredRequestStatusApprovalTask', { ...(await proofOf(id)), requestId: d.requestId }, apiKey());
        d.error = null;
      } catch (e) {
        d.error = errorText(e);
      }
      if (d.status?.status === 'PENDING' || d.status?.status === 'APPROVED') open++;
    }
    renderDecided();
    if (open === 0) return;
    await new Promise((r) => setTimeout(r, 1500));
  }
}

const STATUS_TEXT: Record<string, string> = {
  PENDING: 'waiting for other approvers',
  APPROVED: 'approved, waiting for its time-lock',
  EXECUTED: 'done: the operation ran',
  FAILED: 'failed',
  EXPIRED: 'expired',
  REJECTED: 'rejected',
  CANCELLED: 'cancelled',
};

function renderDecided(): void {
  const list = document.getElementById('decided');
  if (!list) return;
  list.replaceChildren(...[...decided.entries()].reverse().map(([taskId, d]) =>
    h('li', { class: 'decided', 'data-task': taskId, 'data-status': d.status?.status ?? '' },
      h('strong', {}, d.decision === 'approved' ? 'Approved' : 'Rejected'), ' — ',
      d.status ? `${d.status.type} with ${d.status.keyName}: ` : '',
      h('span', { class: `status status-${(d.status?.status ?? 'unknown').toLowerCase()} task-status` }, d.status ? `${d.status.status} (${STATUS_TEXT[d.status.status] ?? ''})` : d.error ?? 'checking…'),
      h('div', { class: 'mono small' }, d.requestId)),
  ));
  const box = document.getElementById('decided-box');
  if (box) box.hidden = decided.size === 0;
}

async function refresh(): Promise<void> {
  const list = document.getElementById('tasks');
  const id = identity;
  if (!list || !id) return;
  list.setAttribute('aria-busy', 'true');
  try {
    const r = await call<{ tasks: Task[] }>('/v1/filteredAllApprovalTask', { ...(await proofOf(id)), detailLevel: 'level3', paging: { pageNumber: 0, pageSize: 50, sortOrder: 'CREATION_DATE_DESC' } }, apiKey());
    list.replaceChildren(...(r.tasks.length ? r.tasks.map(taskCard) : [h('p', { class: 'empty', id: 'no-tasks' }, 'No open tasks for you.')]));
    const stamp = document.getElementById('refreshed');
    if (stamp) stamp.textContent = `Updated ${new Date().toLocaleTimeString()} · ${r.tasks.length} open`;
  } catch (e) {
    list.replaceChildren(h('p', { class: 'empty error', role: 'alert' }, errorText(e)));
  } finally {
    list.removeAttribute('aria-busy');
  }
}

function tasksView(): HTMLElement {
  const btn = h('button', { type: 'button', id: 'refresh' }, 'Refresh tasks');
  btn.addEventListener('click', () => void refresh());
  return h('section', { 'aria-labelledby': 'tasks-title' },
    h('div', { class: 'row spread' }, h('h2', { id: 'tasks-title' }, 'My open tasks'), btn),
    h('p', { id: 'refreshed', class: 'hint', 'aria-live': 'polite' }),
    h('div', { id: 'tasks' }),
    h('section', { id: 'decided-box', class: 'card', hidden: true, 'aria-labelledby': 'decided-title' },
      h('h2', { id: 'decided-title' }, 'Decided here'), h('ul', { id: 'decided', 'aria-live': 'polite' })),
  );
}

async function render(): Promise<void> {
  who.textContent = identity ? `${identity.name}` : 'Not set up';
  if (!identity) {
    main.replaceChildren(setupView(), settingsView());
    return;
  }
  main.replaceChildren(tasksView(), identityView(identity), settingsView());
  renderDecided();
  await refresh();
}

async function start(): Promise<void> {
  if (!window.isSecureContext || !crypto.subtle) {
    say('This page needs a secure context (HTTPS or localhost) for its cryptography.', 'error');
    return;
  }
  try {
    identity = await loadIdentity();
  } catch (e) {
    say(errorText(e), 'error');
  }
  await render();
  // Tasks arrive while the page is open: look again every 30 s while it is visible.
  setInterval(() => {
    if (document.visibilityState === 'visible' && identity) void refresh();
  }, 30_000);
}

void start();
