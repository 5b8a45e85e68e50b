#!/usr/bin/env node
// Builds the approver console (web/ → web/dist, served by Warden at /console) with the project's own
// Vite and type-checks it first. `--if-needed` (prestart) skips a build that is up to date, and without
// the dev dependencies (npm ci --omit=dev) only warns: Warden then answers /console with 404/622.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const web = path.join(root, 'web');
const dist = path.join(web, 'dist', 'index.html');
const ifNeeded = process.argv.includes('--if-needed');

function newest(dir) {
  let t = 0;
  for (const name of readdirSync(dir)) {
    if (name === 'dist' || name === 'node_modules') continue;
    const p = path.join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

if (ifNeeded && existsSync(dist) && statSync(dist).mtimeMs >= newest(web)) process.exit(0);

const require = createRequire(import.meta.url);
let vite;
let tsc;
try {
  vite = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  const msg = 'build-web: vite/typescript are not installed (dev dependencies); the approver console is not built';
  if (ifNeeded) {
    console.warn(msg);
    process.exit(0);
  }
  console.error(msg);
  process.exit(1);
}

for (const [what, args] of [['type-check', [tsc, '-p', path.join(web, 'tsconfig.json')]], ['vite build', [vite, 'build', web]]]) {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build-web: ${what} failed`);
    process.exit(r.status ?? 1);
  }
}
console.log('build-web: web/dist is up to date');
