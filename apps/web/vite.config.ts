import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';

/** The API and gateway the dev server forwards to (`npm run dev` beside `npm start`). */
const backend = process.env.RELAY_CHAT_BACKEND ?? 'http://127.0.0.1:8080';

/**
 * Defence in depth for the built client: even if some text were ever rendered as HTML, no
 * inline or foreign script, object or frame could run. (Not in dev: React Refresh needs an
 * inline preamble there.) Servers may send a stricter header (frame-ancestors) as well.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

function contentSecurityPolicy(): Plugin {
  return {
    name: 'relay-chat-csp',
    apply: 'build',
    transformIndexHtml: () => [
      {
        tag: 'meta',
        attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY },
        injectTo: 'head-prepend',
      },
    ],
  };
}

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react(), contentSecurityPolicy()],
  // Workspace packages export their TypeScript under "source": bundle src/ directly, no prebuild.
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, target: 'es2022' },
  server: {
    proxy: {
      '/api': { target: backend, changeOrigin: false },
      '/ws': {
        target: backend,
        ws: true,
        // The gateway checks Origin against its allowlist, which names the backend's own origin.
        configure: (proxy) => {
          proxy.on('proxyReqWs', (proxyReq) => proxyReq.setHeader('origin', new URL(backend).origin));
        },
      },
    },
  },
});
