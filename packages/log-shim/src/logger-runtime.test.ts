// berth-logger as containerd's shim runs it, minus containerd: a child process with the container's stdout on
// fd 3, stderr on fd 4 and the ready pipe on fd 5 (socket pairs here; pipes under containerd, tested in test/).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { startForwardReceiver } from "../test/forward-receiver.js";
import { buildBerthLoggerBinary } from "../test/logger-binary.js";

const BIN = resolve(import.meta.dirname, "bin/berth-logger.ts");
const ROOT = resolve(import.meta.dirname, "../../..");
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "berth-logger-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

interface Logger {
  child: ChildProcess;
  stdout: Writable;
  stderr: Writable;
  ready: Promise<void>;
  exit: Promise<number | null>;
  output: () => string;
}

function startLogger(args: string[], bin?: string, env: Record<string, string> = {}): Logger {
  const [cmd, argv] = bin === undefined ? [process.execPath, ["--import", "tsx", BIN, ...args]] : [bin, args];
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    env: { ...process.env, CONTAINER_ID: "c0ffee0123456789", CONTAINER_NAMESPACE: "ns1", DEBUG: "", ...env },
    stdio: ["ignore", "pipe", "pipe", "pipe", "pipe", "pipe"],
  });
  cleanups.push(() => child.kill("SIGKILL"));
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const stdio = child.stdio as unknown as Array<Readable & Writable>;
  const readyPipe = stdio[5] as Readable;
  const ready = new Promise<void>((res) => {
    readyPipe.on("data", () => {});
    readyPipe.on("end", res);
    readyPipe.on("close", res);
  });
  const exit = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  return { child, stdout: stdio[3] as Writable, stderr: stdio[4] as Writable, ready, exit, output: () => output };
}

describe("berth-logger process", { timeout: 60_000 }, () => {
  it("json-file: closes fd 5 once ready, keeps each stream's order and tags, exits 0 at EOF", async () => {
    const dir = tmp();
    const log = join(dir, "c.log");
    const l = startLogger(["--driver", "json-file", "--log-path", log, `--debug-file=${join(dir, "debug.log")}`, ""]);
    await l.ready;
    l.stdout.write("out 1\nout 2\npartial ");
    l.stderr.write("err 1\n");
    l.stdout.end("line\nno newline at end");
    l.stderr.end();
    expect(await l.exit).toBe(0);
    const records = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((x) => JSON.parse(x) as { log: string; stream: string; time: string });
    expect(records.filter((r) => r.stream === "stdout").map((r) => r.log)).toEqual([
      "out 1\n",
      "out 2\n",
      "partial line\n",
      "no newline at end\n",
    ]);
    expect(records.filter((r) => r.stream === "stderr").map((r) => r.log)).toEqual(["err 1\n"]);
    for (const r of records) expect(r.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    const debug = readFileSync(join(dir, "debug.log"), "utf8");
    expect(debug).toContain("container ns1/c0ffee0123456789: json-file driver, blocking mode");
    expect(debug).toContain("done: 5 lines written, 0 dropped");
  });

  it("json-file, blocking mode: a failing disk drops and counts the lines, never stops reading", async () => {
    const dir = tmp();
    const debugFile = join(dir, "debug.log");
    // Every write to /dev/full fails with ENOSPC.
    const l = startLogger(["--driver=json-file", "--log-path=/dev/full", `--debug-file=${debugFile}`]);
    await l.ready;
    for (let i = 0; i < 50; i++) {
      if (!l.stdout.write("x\n".repeat(1000))) await new Promise((r) => l.stdout.once("drain", r));
    }
    l.stdout.end("last\n");
    l.stderr.end("err\n");
    expect(await l.exit).toBe(0);
    const debug = readFileSync(debugFile, "utf8");
    expect(debug).toContain("ENOSPC");
    expect(debug).toContain("done: 0 lines written, 50002 dropped (buffer full 0, sink failure 50002)");
  });

  it("fluentd: sends records tagged with the container's short id", async () => {
    const rx = await startForwardReceiver(join(tmp(), "f.sock"));
    cleanups.push(() => rx.kill());
    const l = startLogger(["--driver", "fluentd", "--fluentd-address", rx.address, "--container-name", "web"]);
    await l.ready;
    l.stdout.end("hello\n");
    l.stderr.end("oops\n");
    expect(await l.exit).toBe(0);
    await rx.waitFor(2, 5000);
    const byLog = Object.fromEntries(rx.events.map((e) => [e.record.log, e]));
    expect(byLog.hello?.tag).toBe("c0ffee012345");
    expect(byLog.hello?.record).toEqual({
      container_id: "c0ffee0123456789",
      container_name: "web",
      source: "stdout",
      log: "hello",
    });
    expect(byLog.oops?.record.source).toBe("stderr");
  });

  it("non-blocking: an unreachable fluentd never stalls reading; drops are counted; SIGTERM ends the drain", async () => {
    const dir = tmp();
    const debugFile = join(dir, "debug.log");
    const l = startLogger([
      "--driver=fluentd",
      `--fluentd-address=unix://${join(dir, "nobody.sock")}`,
      "--mode=non-blocking",
      "--max-buffer-size=4k",
      "--fluentd-write-timeout=200ms",
      "--cleanup-time=500ms",
      `--debug-file=${debugFile}`,
    ]);
    await l.ready;
    const line = `${"z".repeat(99)}\n`;
    const t0 = Date.now();
    // 2 MB through a 4 KiB buffer towards nobody: every write must still be accepted promptly.
    for (let i = 0; i < 200; i++) {
      if (!l.stdout.write(line.repeat(100))) await new Promise((r) => l.stdout.once("drain", r));
    }
    const writing = Date.now() - t0;
    l.stdout.end();
    l.stderr.end();
    l.child.kill("SIGTERM");
    expect(await l.exit).toBe(0);
    expect(writing).toBeLessThan(10_000);
    const debug = readFileSync(debugFile, "utf8");
    expect(debug).toContain("buffer full");
    const done = /done: (\d+) lines written, (\d+) dropped/.exec(debug);
    expect(Number(done?.[1])).toBe(0);
    expect(Number(done?.[2])).toBe(20_000);
  });

  it("built bin: its shell preamble signals ready before Node starts, shields Node from an early SIGTERM and keeps NODE_EXTRA_CA_CERTS from it", async () => {
    const built = await buildBerthLoggerBinary();
    cleanups.push(() => built.remove());
    const dir = tmp();
    const log = join(dir, "c.log");
    // Node warns on stderr when NODE_EXTRA_CA_CERTS cannot be loaded: the warning proves the variable reached it.
    const l = startLogger(
      ["--driver=json-file", `--log-path=${log}`, `--debug-file=${join(dir, "d.log")}`],
      built.path,
      {
        NODE_EXTRA_CA_CERTS: join(dir, "missing.pem"),
      },
    );
    await l.ready;
    l.stdout.end('<a> & "b"\n');
    l.stderr.end();
    expect(await l.exit).toBe(0);
    expect(l.output()).not.toContain("extra certs");
    expect(readFileSync(log, "utf8")).toMatch(
      /^\{"log":"\\u003ca\\u003e \\u0026 \\"b\\"\\n","stream":"stdout","time":"[^"]+"\}\n$/,
    );
    expect(readFileSync(join(dir, "d.log"), "utf8")).toContain("done: 1 lines written");
    // The shim's SIGTERM may come while Node is still starting (a short-lived container): it must not cost the output.
    const log2 = join(dir, "early-term.log");
    const early = startLogger(["--driver=json-file", `--log-path=${log2}`], built.path);
    await early.ready;
    early.child.kill("SIGTERM");
    early.stdout.end("said before the logger was up\n");
    early.stderr.end();
    expect(await early.exit).toBe(0);
    expect(readFileSync(log2, "utf8")).toContain('{"log":"said before the logger was up\\n","stream":"stdout"');
    // Ready comes from the shell, before Node: with no node on PATH the pipe still closes, then exec fails.
    const noNode = startLogger(["--driver=json-file", `--log-path=${log}`], built.path, { PATH: dir });
    await noNode.ready;
    expect(await noNode.exit).toBe(127);
  });

  it("exits 2 with the reason on bad flags", async () => {
    const l = startLogger(["--driver", "awslogs"]);
    expect(await l.exit).toBe(2);
    expect(l.output()).toContain('berth-logger has no driver "awslogs"');
  });
});
