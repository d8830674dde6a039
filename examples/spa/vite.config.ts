import { defineConfig } from 'vite';

// The SPA and authql share one origin: the dev server (and `vite preview`)
// forwards /graphql to authql. The refresh cookie is then first-party and
// SameSite=Strict, and authql sees a same-origin request, so no CORS setup is
// needed. The Host header is kept (no changeOrigin): authql compares it with
// the Origin header to tell same-origin requests from foreign ones.
const target = process.env.AUTHQL_URL ?? 'http://localhost:8080';
const proxy = { '/graphql': { target } };

export default defineConfig({
  server: { port: 5173, strictPort: true, proxy },
  preview: { port: 4173, strictPort: true, proxy },
});
