import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

/** The API and gateway the dev server forwards to (`npm run dev` beside `npm start`). */
const backend = process.env.RELAY_CHAT_BACKEND ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
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
