// One build recipe for every published package: ESM + CommonJS, with declarations for both.
// Each package's tsup.config.ts calls this so the shape cannot drift between packages.
import { defineConfig, type Options } from "tsup";

export function packageBuild(extra: Partial<Options> = {}) {
  return defineConfig({
    entry: ["src/index.ts"],
    format: ["esm", "cjs"],
    target: "node20",
    platform: "node",
    dts: { compilerOptions: { composite: false, emitDeclarationOnly: false, declarationMap: false } },
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: true,
    ...extra,
  });
}
