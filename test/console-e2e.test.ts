// warden-test-db: sqlite-only
// The approver console end to end (docs/approvers.md): Debian's Chromium driven by playwright-core on a
// phone-sized screen against a Warden listening on loopback. Onboarding with a one-time code (wrong code
// first), a policy key naming the onboarded approver, an application's /v1/sign, the task in the console,
// one click to approve, the request EXECUTED and its signature checked with openssl; then the key made in
// the browser, keyboard-only approval, an expired task and an unreachable server. Screenshots go to a
// temporary directory; WARDEN_UPDATE_SCREENSHOTS=1 writes them to docs/img/ (the approver documentation
// shows them), so a test run leaves the tree clean. The API itself runs on both databases elsewhere.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROLE_KEYS, startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { createEcKey, opensslVerify, policy, requestStatus, rule, signRequest } from './helpers/workflow.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const IMG = process.env.WARDEN_UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', 'img') : mkdtempSync(path.join(tmpdir(), 'warden-console-shots-'));
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: scripts/ensure-system-deps.sh installs it`);

function ensureBuilt(): void {
  if (existsSync(path.join(ROOT, 'web', 'dist', 'index.html'))) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-web.mjs')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `npm run build:web failed: ${r.stdout}${r.stderr}`);
}

describe('approver console in Chromium', { skip: haveChromium ? false : `${CHROMIUM} is not installed (scripts/ensure-system-deps.sh)` }, () => {
  let w: TestWarden;
  let base: string;
  let ctx: BrowserContext;
  let page: Page;
  let profile: string;
  const shots: string[] = [];

  const shot = async (name: string) => {
    const file = path.join(IMG, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    shots.push(file);
  };

  before(async () => {
    ensureBuilt();
    mkdirSync(IMG, { recursive: true });
    w = await startTestWarden();
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(w.app.server.address() as AddressInfo).port}`;
    profile = mkdtempSync(path.join(tmpdir(), 'warden-chromium-'));
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: FLAGS,
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
      isMobile: true,
      hasTouch: true,
      timeout: 60_000,
    });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.setDefaultTimeout(20_000);
  });

  after(async () => {
    await ctx?.close();
    await w?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    console.log(`console e2e: ${shots.length} screenshots in ${IMG} (${shots.map((s) => path.basename(s)).join(', ')})`);
    if (!IMG.startsWith(ROOT)) rmSync(IMG, { recursive: true, force: true });
  });

  const setApiKey = async () => {
    await page.locator('details:has(#settings) > summary').click();
    await page.fill('#api-key', ROLE_KEYS.approverToken);
    await page.locator('#settings button[type=submit]').click();
    await page.locator('#notice', { hasText: 'API key saved' }).waitFor();
  };

  const onboardedPolicy = (name: string) => policy({ ruleUse: rule({ timeout: 3600, groups: [{ quorum: 1, approvals: [{ type: 'onboarded_approver_certificate', name }] }] }) });

  it('onboards with a one-time code (a wrong code first), then approves a /v1/sign task with one click; openssl verifies the signature', async () => {
    const name = 'officer1@example.com';
    const created = await w.call('PUT', '/v1/approverManagement/create', { approverName: name, algorithm: 'RSA', keySize: 2048, backupPassword: 'correct horse battery', validity: 365 }, 'approverKeyManagementToken');
    assert.equal(created.statusCode, 200, created.body);
    const code = created.json().oneTimeCode as string;

    await page.goto(`${base}/console`);
    await page.locator('#onboard-form').waitFor();
    assert.equal(await page.title(), 'Warden approver console');
    await setApiKey();
    await shot('console-1-setup');

    await page.fill('#onboard-name', name);
    await page.fill('#onboard-code', code === '000000' ? '111111' : '000000');
    await page.fill('#onboard-password', 'correct horse battery');
    await page.locator('#onboard-form button[type=submit]').click();
    await page.locator('#notice.error', { hasText: 'one-time code was not accepted' }).waitFor();
    await shot('console-2-wrong-code');

    await page.fill('#onboard-code', code);
    await page.locator('#onboard-form button[type=submit]').click();
    await page.locator('#notice', { hasText: `Onboarded as ${name}` }).waitFor();
    await page.locator('#no-tasks').waitFor();
    const status = (await w.call('GET', '/v1/approverManagement/onboarding/status', undefined, 'approverKeyManagementToken')).json();
    assert.ok(status.onboarded.some((e: { approverName: string }) => e.approverName === name));

    const label = 'payments-key';
    const k = await createEcKey(w, label, onboardedPolicy(name));
    assert.equal(k.statusCode, 201, k.body);
    const payload = Buffer.from('Pay 1200.00 EUR to ACME Corp, invoice 2026-118');
    const id = await signRequest(w, label, payload, { metaData: Buffer.from(JSON.stringify({ app: 'payments', invoice: '2026-118', amount: '1200.00 EUR' })).toString('base64') });

    await page.locator('#refresh').click();
    const card = page.locator(`article.task:has-text("${label}")`);
    await card.waitFor();
    const text = await card.innerText();
    assert.match(text, /Sign with payments-key/);
    assert.match(text, /Pay 1200\.00 EUR to ACME Corp/);
    assert.match(text, /"invoice": "2026-118"/);
    assert.match(text, /SHA256_WITH_ECDSA/);
    assert.ok(text.includes(id));
    await shot('console-3-task');

    await card.locator('button.approve').click();
    await page.locator(`.decided[data-status="EXECUTED"]`).waitFor();
    await shot('console-4-executed');

    const st = await requestStatus(w, id);
    assert.equal(st.status, 'EXECUTED');
    assert.equal(st.approvedBy.length, 1);
    assert.ok(opensslVerify(Buffer.from(k.json().json.publicKey as string, 'base64'), payload, Buffer.from(st.result ?? '', 'base64')), 'openssl verifies the signature');
  });

  it('a key made in the browser: its public key goes into a policy; approval by keyboard only; the ECDSA signature (DER) verifies', async () => {
    page.once('dialog', (d) => void d.accept());
    await page.locator('#identity > summary').click();
    await page.locator('#forget').click();
    await page.locator('#browser-key-form').waitFor();
    await page.fill('#browser-key-name', 'officer2@example.com');
    await page.locator('#browser-key-form button[type=submit]').click();
    await page.locator('#notice', { hasText: 'A key was made in this browser' }).waitFor();
    await page.locator('#identity > summary').click();
    const spki = (await page.inputValue('#public-key')).trim();
    assert.match(spki, /^MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE/);
    await shot('console-5-browser-key');
    // Browser code as a string: the test files compile without the DOM library.
    const extractable = await page.evaluate(`(async () => {
      const db = await new Promise((res, rej) => { const r = indexedDB.open('warden-approver-console'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      const id = await new Promise((res) => { const r = db.transaction('identity').objectStore('identity').get('current'); r.onsuccess = () => res(r.result); });
      return id.privateKey.extractable;
    })()`);
    assert.equal(extractable, false, 'the private key in IndexedDB is not extractable');

    const label = 'treasury-key';
    const k = await createEcKey(w, label, policy({ ruleUse: rule({ timeout: 3600, groups: [{ quorum: 1, approvals: [{ type: 'public_key', name: 'officer2', value: spki }] }] }) }));
    assert.equal(k.statusCode, 201, k.body);
    const payload = Buffer.from('treasury transfer 7');
    const id = await signRequest(w, label, payload);

    await page.locator('#refresh').focus();
    await page.keyboard.press('Enter');
    await page.locator(`article.task:has-text("${label}")`).waitFor();
    let focused: unknown = '';
    for (let i = 0; i < 60 && focused !== 'approve'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(`(document.activeElement?.classList.contains('approve') && document.activeElement.closest('article')?.textContent?.includes('treasury-key')) ? 'approve' : ''`);
    }
    assert.equal(focused, 'approve', 'Tab reaches the Approve button');
    await page.keyboard.press('Enter');
    await page.locator(`.decided[data-status="EXECUTED"]:has-text("${id}")`).waitFor();
    const st = await requestStatus(w, id);
    assert.equal(st.status, 'EXECUTED');
    assert.deepEqual(st.approvedBy, [spki]);
    assert.ok(opensslVerify(Buffer.from(k.json().json.publicKey as string, 'base64'), payload, Buffer.from(st.result ?? '', 'base64')));
  });

  it('clear errors: a task that is no longer open, and an unreachable server', async () => {
    const spki = (await page.inputValue('#public-key')).trim();
    const label = 'cancelled-key';
    const k = await createEcKey(w, label, policy({ ruleUse: rule({ timeout: 3600, groups: [{ quorum: 1, approvals: [{ type: 'public_key', name: 'officer2', value: spki }] }] }) }));
    assert.equal(k.statusCode, 201, k.body);
    const id = await signRequest(w, label);
    await page.locator('#refresh').click();
    const card = page.locator(`article.task:has-text("${label}")`);
    await card.waitFor();
    const del = await w.call('DELETE', `/v1/request/${id}`, undefined, 'keyOperationToken');
    assert.ok(del.statusCode === 200 || del.statusCode === 204, del.body);
    await card.locator('button.approve').click();
    await page.locator('#notice.error', { hasText: 'no longer open' }).waitFor();
    await shot('console-6-task-gone');

    await page.route('**/v1/**', (route) => route.abort('connectionrefused'));
    await page.locator('#refresh').click();
    await page.locator('#tasks .error', { hasText: 'unreachable' }).waitFor();
    await shot('console-7-unreachable');
    await page.unroute('**/v1/**');
  });
});
