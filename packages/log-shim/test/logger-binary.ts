// Builds berth-logger the way the package's tsup.config.ts builds its bin (one self-contained CommonJS file,
// dependencies bundled, BERTH_LOGGER_PREAMBLE on top) into a temporary directory, executable, so containerd's shim
// runs it directly, as it would run an installed dist/bin/berth-logger.cjs.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "tsup";
import { BERTH_LOGGER_PREAMBLE } from "../src/bin/preamble.js";

const PKG = resolve(import.meta.dirname, "..");

export interface BuiltLogger {
  /** Absolute path of the executable logger script. */
  readonly path: string;
  remove(): void;
}

export async function buildBerthLoggerBinary(): Promise<BuiltLogger> {
  const outDir = mkdtempSync(join(tmpdir(), "berth-logger-bin-"));
  await build({
    entry: { "berth-logger": join(PKG, "src/bin/berth-logger.ts") },
    outDir,
    format: ["cjs"],
    platform: "node",
    target: "node20",
    config: false,
    silent: true,
    dts: false,
    clean: false,
    splitting: false,
    sourcemap: false,
    noExternal: [/./],
    banner: { js: BERTH_LOGGER_PREAMBLE },
  });
  const path = join(outDir, "berth-logger.cjs");
  chmodSync(path, 0o755);
  return { path, remove: () => rmSync(outDir, { recursive: true, force: true }) };
}
