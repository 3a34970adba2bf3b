// Log URIs and berth-logger through the real containerd (1.6 and 2.1): ctr starts the tasks (berth's own task
// API is not used here), containerd's runc shim starts the logger named by the URI.
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { HOW_TO_RUN, stack, uniqueName } from "@berth/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BerthLoggerOptions,
  buildBerthLoggerUri,
  buildShimLoggerUri,
  parseBerthLoggerArgv,
  type ShimLoggerOptions,
  shimLoggerArgs,
  startBerthLoggerServer,
} from "../src/index.js";
import { startForwardReceiver } from "./forward-receiver.js";
import { type BuiltLogger, buildBerthLoggerBinary } from "./logger-binary.js";

const run = promisify(execFile);
const s = stack();
if (!s) console.warn(`berth-logger integration tests skipped: ${HOW_TO_RUN}`);

interface JsonRecord {
  log: string;
  stream: string;
  time: string;
}

function readRecords(path: string): JsonRecord[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as JsonRecord);
}

// Records the argv and env containerd gives a logger, then behaves like one: closes fd 5, drains fds 3 and 4.
const RECORDER = `#!/usr/bin/env node
const fs = require("node:fs");
fs.writeFileSync(process.env.RECORD_TO || __filename + ".json", JSON.stringify({
  argv: process.argv.slice(2),
  env: { CONTAINER_ID: process.env.CONTAINER_ID, CONTAINER_NAMESPACE: process.env.CONTAINER_NAMESPACE },
}));
fs.closeSync(5);
for (const fd of [3, 4]) fs.createReadStream("", { fd }).on("data", () => {}).on("error", () => {});
`;

describe.skipIf(!s).each(s?.daemons ?? [])("log URIs through containerd on $name", (daemon) => {
  const ns = uniqueName("logs");
  const image = s?.testImageRef ?? "docker.io/library/busybox-test:latest";
  let dir = "";
  let logger: BuiltLogger | undefined;
  const ctr = (args: string[], timeout = 120_000) =>
    run(daemon.ctr, ["-a", daemon.address, "-n", ns, ...args], { timeout, maxBuffer: 64 << 20 });
  const runTask = (uri: string, script: string, timeout = 120_000) =>
    ctr(["run", "--rm", "--log-uri", uri, image, uniqueName("c"), "sh", "-c", script], timeout);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "berth-logger-it-"));
    logger = await buildBerthLoggerBinary();
    await ctr(["images", "import", s?.env.TEST_IMAGE_ARCHIVE ?? ""]);
  });

  afterAll(async () => {
    logger?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await ctr(["images", "rm", "--sync", image]).catch(() => undefined);
    // Content and snapshots go with the image's garbage collection; retry until the namespace is empty.
    for (let i = 0; i < 20; i++) {
      const removed = await run(daemon.ctr, ["-a", daemon.address, "namespaces", "rm", ns]).then(
        () => true,
        () => false,
      );
      if (removed) break;
      await ctr(["content", "ls", "-q"])
        .then(({ stdout }) => stdout.split("\n").filter(Boolean))
        .then((digests) => (digests.length > 0 ? ctr(["content", "rm", ...digests]) : undefined))
        .catch(() => undefined);
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  function pairs(argv: readonly string[]): string[][] {
    const out: string[][] = [];
    for (let i = 0; i < argv.length; i += 2) out.push([argv[i] as string, argv[i + 1] as string]);
    return out.sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
  }

  it("delivers exactly the argv and env the shim-loggers builder intended, pflag booleans included", async () => {
    const recorder = join(dir, "recorder");
    writeFileSync(recorder, RECORDER, { mode: 0o755 });
    const options: ShimLoggerOptions = {
      containerId: "c-1",
      containerName: "web app",
      mode: "non-blocking",
      maxBufferSize: "2m",
      verbose: true,
      driver: {
        name: "fluentd",
        address: "unix:///run/fluent-bit/fluent.sock",
        async: false,
        subSecondPrecision: false,
        tag: "a&b=c?d",
      },
    };
    const uri = buildShimLoggerUri(recorder, options)._unsafeUnwrap();
    await runTask(uri, "echo hi");
    const got = JSON.parse(readFileSync(`${recorder}.json`, "utf8")) as { argv: string[]; env: object };
    const intended = shimLoggerArgs(options)._unsafeUnwrap();
    expect(pairs(got.argv)).toEqual(pairs(intended.flat()));
    // The boolean flags arrive as one element `--flag=false`, followed by containerd's empty value element.
    const i = got.argv.indexOf("--fluentd-async=false");
    expect(i).toBeGreaterThanOrEqual(0);
    expect(got.argv[i + 1]).toBe("");
    expect(got.argv).toContain("--fluentd-sub-second-precision=false");
    expect(got.argv).toContain("--verbose=true");
    expect(got.env).toEqual({ CONTAINER_ID: expect.stringMatching(/^berth-c-/), CONTAINER_NAMESPACE: ns });
  });

  it("delivers a berth-logger URI that berth-logger parses back to the same options", async () => {
    const recorder = join(dir, "recorder2");
    writeFileSync(recorder, RECORDER, { mode: 0o755 });
    const options: BerthLoggerOptions = {
      driver: { name: "json-file", logPath: "/var/log/with space/c.log", maxSize: "1m", maxFile: 3 },
      mode: "non-blocking",
      maxBufferSize: "256k",
      containerName: "a=b&c",
    };
    await runTask(buildBerthLoggerUri(recorder, options)._unsafeUnwrap(), "true");
    const got = JSON.parse(readFileSync(`${recorder}.json`, "utf8")) as { argv: string[] };
    expect(parseBerthLoggerArgv(got.argv)._unsafeUnwrap()).toEqual(options);
  });

  it("json-file: stdout and stderr lines arrive in order with the right stream tags", async () => {
    const log = join(dir, "order", "c.log");
    const uri = buildBerthLoggerUri(logger?.path ?? "", { driver: { name: "json-file", logPath: log } });
    await runTask(uri._unsafeUnwrap(), 'for i in $(seq 1 300); do echo "out $i"; echo "err $i" >&2; done');
    const records = readRecords(log);
    const of = (stream: string) => records.filter((r) => r.stream === stream);
    expect(of("stdout").map((r) => r.log)).toEqual(Array.from({ length: 300 }, (_, i) => `out ${i + 1}\n`));
    expect(of("stderr").map((r) => r.log)).toEqual(Array.from({ length: 300 }, (_, i) => `err ${i + 1}\n`));
    expect(records).toHaveLength(600);
    for (const stream of ["stdout", "stderr"]) {
      const times = of(stream).map((r) => Date.parse(r.time));
      expect(times.every((t, k) => k === 0 || t >= (times[k - 1] as number))).toBe(true);
    }
  });

  it("json-file: a 64 KiB line and 100k lines arrive intact", async () => {
    const log = join(dir, "big", "c.log");
    const debugFile = join(dir, "big-debug.log");
    const uri = buildBerthLoggerUri(logger?.path ?? "", { driver: { name: "json-file", logPath: log }, debugFile });
    await runTask(uri._unsafeUnwrap(), "seq 1 20000 | tr -d '\\n' | head -c 65536; echo; seq 1 100000");
    const logs = readRecords(log).map((r) => r.log);
    const long = Array.from({ length: 20000 }, (_, i) => i + 1)
      .join("")
      .slice(0, 65536);
    // Docker's partial messages: pieces of at most 16 KiB without "\n", the last one ending the line.
    const end = logs.findIndex((l) => l.endsWith("\n"));
    expect(end).toBeGreaterThanOrEqual(3);
    expect(logs.slice(0, end + 1).join("")).toBe(`${long}\n`);
    expect(logs.slice(0, end + 1).every((l) => Buffer.byteLength(l) <= 16 * 1024 + 1)).toBe(true);
    const rest = logs.slice(end + 1);
    expect(rest).toHaveLength(100_000);
    expect(rest.every((l, i) => l === `${i + 1}\n`)).toBe(true);
    // Exited after draining everything (the shim closes the pipes, then sends SIGTERM and waits for the logger).
    expect(readFileSync(debugFile, "utf8")).toContain(`done: ${logs.length} lines written, 0 dropped`);
  });

  it("json-file: rotates at max-size keeping max-file files", async () => {
    const log = join(dir, "rot", "c.log");
    const uri = buildBerthLoggerUri(logger?.path ?? "", {
      driver: { name: "json-file", logPath: log, maxSize: "20k", maxFile: 3 },
    });
    await runTask(uri._unsafeUnwrap(), "seq 1 5000");
    const files = [`${log}.2`, `${log}.1`, log].map((f) => readFileSync(f).length);
    expect(files.every((n) => n > 0 && n <= 20_000)).toBe(true);
    const kept = [`${log}.2`, `${log}.1`, log].flatMap(readRecords).map((r) => r.log);
    expect(kept.at(-1)).toBe("5000\n");
    const first = Number(kept[0]);
    expect(kept).toEqual(Array.from({ length: 5000 - first + 1 }, (_, i) => `${first + i}\n`));
  });

  it("resident server: the container's lines are logged by the server, in order, 100k intact", async () => {
    const socketPath = join(dir, "server-1.sock");
    const server = (await startBerthLoggerServer({ socketPath }))._unsafeUnwrap();
    try {
      const log = join(dir, "server-1", "c.log");
      const uri = buildBerthLoggerUri(logger?.path ?? "", {
        driver: { name: "json-file", logPath: log },
        server: socketPath,
      });
      await runTask(
        uri._unsafeUnwrap(),
        'for i in $(seq 1 200); do echo "out $i"; echo "err $i" >&2; done; seq 1 100000',
      );
      const records = readRecords(log);
      const of = (stream: string) => records.filter((r) => r.stream === stream).map((r) => r.log);
      expect(of("stderr")).toEqual(Array.from({ length: 200 }, (_, i) => `err ${i + 1}\n`));
      expect(of("stdout")).toEqual([
        ...Array.from({ length: 200 }, (_, i) => `out ${i + 1}\n`),
        ...Array.from({ length: 100_000 }, (_, i) => `${i + 1}\n`),
      ]);
      // Through the server, not a logger of its own: the shim's logger only handed the pipes over.
      expect(server.served).toBe(1);
      expect(server.sessions).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("resident server killed mid-run: the container's own logger takes over, nothing lost, never blocked", async () => {
    const socketPath = join(dir, "server-2.sock");
    const serverLog = join(dir, "server-2-debug.log");
    const proc = spawn("sh", [logger?.path ?? "", "serve", "--socket", socketPath, "--debug-file", serverLog], {
      stdio: "ignore",
    });
    try {
      for (let i = 0; i < 200 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 25));
      expect(existsSync(socketPath)).toBe(true);
      const log = join(dir, "server-2", "c.log");
      const uri = buildBerthLoggerUri(logger?.path ?? "", {
        driver: { name: "json-file", logPath: log },
        server: socketPath,
      });
      const task = runTask(uri._unsafeUnwrap(), "seq 1 50000; sleep 2; seq 50001 100000");
      for (let i = 0; i < 200 && !(existsSync(log) && readRecords(log).length === 50_000); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(readRecords(log)).toHaveLength(50_000);
      proc.kill("SIGKILL");
      await task;
      expect(readRecords(log).map((r) => r.log)).toEqual(Array.from({ length: 100_000 }, (_, i) => `${i + 1}\n`));
      expect(readFileSync(serverLog, "utf8")).toContain("container");
    } finally {
      proc.kill("SIGKILL");
      rmSync(socketPath, { force: true });
    }
  });

  it("fluentd: a forward receiver on loopback receives the records", async () => {
    const rx = await startForwardReceiver();
    try {
      const uri = buildBerthLoggerUri(logger?.path ?? "", {
        driver: { name: "fluentd", address: rx.address, tag: "berth.test" },
        containerName: "web",
      });
      await runTask(uri._unsafeUnwrap(), "seq 1 1000; echo boom >&2");
      await rx.waitFor(1001, 20_000);
      const out = rx.events.filter((e) => e.record.source === "stdout");
      expect(out.map((e) => e.record.log)).toEqual(Array.from({ length: 1000 }, (_, i) => String(i + 1)));
      const err = rx.events.filter((e) => e.record.source === "stderr");
      expect(err.map((e) => e.record.log)).toEqual(["boom"]);
      expect(rx.events.every((e) => e.tag === "berth.test" && e.record.container_name === "web")).toBe(true);
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      expect(rx.events.every((e) => e.timeNs > nowNs - 120_000_000_000n && e.timeNs <= nowNs)).toBe(true);
    } finally {
      await rx.kill();
    }
  });

  it("fluentd non-blocking: killing the receiver never blocks the container", async () => {
    const rx = await startForwardReceiver();
    const debugFile = join(dir, "nb-debug.log");
    try {
      const uri = buildBerthLoggerUri(logger?.path ?? "", {
        driver: { name: "fluentd", address: rx.address, writeTimeout: "500ms" },
        mode: "non-blocking",
        maxBufferSize: "64k",
        cleanupTime: "2s",
        debugFile,
      });
      const started = Date.now();
      const task = runTask(uri._unsafeUnwrap(), "seq 1 500; sleep 2; seq 1 200000; echo done");
      await rx.waitFor(500, 20_000);
      await rx.kill();
      await task;
      const elapsed = Date.now() - started;
      // 200k lines into a dead receiver with a 64 KiB buffer: the container finishes; lines are dropped, counted.
      expect(elapsed).toBeLessThan(60_000);
      const debug = readFileSync(debugFile, "utf8");
      const done = /done: (\d+) lines written, (\d+) dropped/.exec(debug);
      expect(done).not.toBeNull();
      expect(Number(done?.[2])).toBeGreaterThan(0);
      expect(Number(done?.[1]) + Number(done?.[2])).toBe(500 + 200_000 + 1);
    } finally {
      await rx.kill().catch(() => undefined);
    }
  });
});
