// berth-logger's json-file driver against containerd's own `file://` log URI: a busybox container writes
// 500k lines (`seq`), started with the stack's `ctr run --rm` on each daemon; one round is one container from
// `ctr run` to its exit (the shim waits for the logger to drain before `ctr` returns). The rate is lines/s of
// that wall time; both sides must have written all 500k lines. berth-logger writes Docker's JSON lines (about
// 10x the bytes of the raw text for short lines); file:// copies the raw bytes.
//
// The logger is built the way the package's tsup.config.ts builds its bin (one self-contained CommonJS file behind
// the package's shell preamble, which signals readiness before Node starts) into a temporary directory.
//
// Two ways to run it, one comparison each: standalone (one Node process per container, started by the shim) and
// with a resident server (`berth-logger serve`, started once before the rounds, like the daemon file:// runs in;
// the shim's logger is then the preamble plus a perl hand-over of the pipes, see the package README).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { BERTH_LOGGER_PREAMBLE } from "@berth/log-shim";
import { stack, uniqueName } from "@berth/testkit";
import { build } from "tsup";
import type { Benchmark, Comparison, Side } from "../harness.js";

const run = promisify(execFile);
const LINES = 500_000;
const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "../../../packages/log-shim");

async function buildLogger(): Promise<{ path: string; remove: () => void }> {
  const outDir = mkdtempSync(join(tmpdir(), "berth-bench-logger-bin-"));
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

function countLines(path: string): number {
  const buf = readFileSync(path);
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

export const loggerBenchmark: Benchmark = {
  name: "logger",
  description: `a container writing ${LINES} lines: berth-logger json-file vs containerd's file:// log URI (lines/s)`,
  async prepare() {
    const s = stack();
    if (!s) throw new Error("the stack is not up: run `bash scripts/stack up` as root first");
    const image = s.testImageRef ?? "docker.io/library/busybox-test:latest";
    const logger = await buildLogger();
    const dir = mkdtempSync(join(tmpdir(), "berth-bench-logger-"));
    const cleanups: Array<() => Promise<unknown>> = [];
    const socket = join(dir, "server.sock");
    const server: ChildProcess = spawn("sh", [logger.path, "serve", "--socket", socket], { stdio: "ignore" });
    for (let i = 0; i < 400 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
    if (!existsSync(socket)) {
      server.kill("SIGKILL");
      throw new Error(`berth-logger serve did not create ${socket}`);
    }
    const comparisons: Comparison[] = [];
    try {
      for (const daemon of s.daemons) {
        const ns = uniqueName("bench-logs");
        const ctr = (args: string[]) =>
          run(daemon.ctr, ["-a", daemon.address, "-n", ns, ...args], { timeout: 300_000, maxBuffer: 16 << 20 });
        await ctr(["images", "import", s.env.TEST_IMAGE_ARCHIVE ?? ""]);
        cleanups.push(async () => {
          await ctr(["images", "rm", "--sync", image]).catch(() => undefined);
          for (let i = 0; i < 20; i++) {
            const ok = await run(daemon.ctr, ["-a", daemon.address, "namespaces", "rm", ns]).then(
              () => true,
              () => false,
            );
            if (ok) return;
            await new Promise((r) => setTimeout(r, 250));
          }
        });
        let round = 0;
        const side = (name: string, uriFor: (log: string) => string): Side => ({
          name,
          async run() {
            const log = join(dir, `${daemon.name}-${name}-${++round}.log`);
            const t = performance.now();
            await ctr(["run", "--rm", "--log-uri", uriFor(log), image, uniqueName("c"), "seq", "1", String(LINES)]);
            const seconds = (performance.now() - t) / 1000;
            const lines = countLines(log);
            rmSync(log, { force: true });
            if (lines !== LINES) throw new Error(`${name} wrote ${lines} of ${LINES} lines`);
            return LINES / seconds;
          },
        });
        comparisons.push({
          name: `logger-json-file-${daemon.name}`,
          unit: `lines/s, ${LINES} lines per container`,
          berth: side(
            "berth-logger",
            (log) => `binary://${logger.path}?--driver=json-file&--log-path=${encodeURIComponent(log)}`,
          ),
          peer: side("file://", (log) => `file://${log}`),
          rounds: 5,
          warmup: 1,
          goal: { op: ">=", value: 0.8 },
          metric: "rate",
        });
        comparisons.push({
          name: `logger-json-file-server-${daemon.name}`,
          unit: `lines/s, ${LINES} lines per container`,
          berth: side(
            "berth-logger --server",
            (log) =>
              `binary://${logger.path}?--driver=json-file&--log-path=${encodeURIComponent(log)}&--server=${encodeURIComponent(socket)}`,
          ),
          peer: side("file://", (log) => `file://${log}`),
          rounds: 5,
          warmup: 1,
          goal: { op: ">=", value: 0.8 },
          metric: "rate",
        });
      }
    } catch (e) {
      server.kill("SIGKILL");
      throw e;
    }
    return {
      comparisons,
      teardown: async () => {
        server.kill("SIGTERM");
        await new Promise((r) => (server.exitCode !== null ? r(undefined) : server.once("exit", r)));
        for (const c of cleanups) await c();
        logger.remove();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
