// Vite build of the approver console (docs/approvers.md): served by Warden at /console, no CDN, no
// external request; `npm run build:web` writes web/dist.
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  build: { outDir: 'dist', emptyOutDir: true, assetsInlineLimit: 0, chunkSizeWarningLimit: 1500 },
  logLevel: 'warn',
});
