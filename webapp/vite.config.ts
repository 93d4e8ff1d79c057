// Build into the Python package so that `hudhud serve` ships the client (docs/subsystems/web.md).
// JSX is compiled by esbuild for Preact directly: no Babel preset, fewer moving parts, a deterministic build.
import { defineConfig } from "vitest/config";

const target = process.env.HUDHUD_SERVER ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact", legalComments: "none" },
  build: {
    outDir: process.env.HUDHUD_WEB_OUT ?? "../src/hudhud/webclient",
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0, // no data: URLs for fonts; every asset is a hashed file served with a long cache
    modulePreload: { polyfill: false }, // no inline script: the CSP forbids it
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    port: 5173,
    proxy: { "/v1": { target, ws: true, changeOrigin: false } },
  },
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
  },
});
