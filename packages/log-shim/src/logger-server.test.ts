// The resident logger with real clients: the bin's preamble (shell + perl hand-over) in front of a stand-in for the
// standalone logger, fed by shell pipelines (real pipes: the server opens them through /proc/<pid>/fd).
import { execFile, execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BERTH_LOGGER_PREAMBLE } from "./bin/preamble.js";
import { type BerthLoggerServer, startBerthLoggerServer } from "./logger-server.js";

// What runs when no server takes the pipes: records how it was started, counts the bytes left on fd 3, exits 7.
const FALLBACK = `
const fs = require("node:fs");
const mark = process.env.FALLBACK_MARK;
fs.writeFileSync(mark, JSON.stringify({ argv: process.argv.slice(2), ready: process.env.BERTH_LOGGER_READY_SENT }));
let bytes = "";
fs.createReadStream("", { fd: 3 })
  .on("data", (c) => { bytes += c.toString(); })
  .on("end", () => { fs.writeFileSync(mark + ".bytes", bytes); process.exit(7); });
`;

interface Record {
  log: string;
  stream: string;
}

describe("startBerthLoggerServer with the bin's hand-over", () => {
  let dir = "";
  let bin = "";
  let socket = "";
  let mark = "";
  let server: BerthLoggerServer | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-logger-server-"));
    bin = join(dir, "berth-logger.cjs");
    writeFileSync(bin, `${BERTH_LOGGER_PREAMBLE}\n${FALLBACK}`);
    chmodSync(bin, 0o755);
    socket = join(dir, "logger.sock");
    mark = join(dir, "fallback.json");
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  // Runs the logger with `stdout` commands on fd 3 and `stderr` commands on fd 4, as containerd's shim would.
  function runLogger(
    args: string[],
    stdout: string,
    stderr = "true",
  ): Promise<{ code: number | null; stderr: string }> {
    const script = `{ { ${stderr}; } | sh "$0" "$@" 4<&0 5>/dev/null; } 3<&0`;
    return new Promise((resolve) => {
      const child = execFile(
        "sh",
        ["-c", `{ ${stdout}; } | { ${script}; }`, bin, ...args],
        { env: { ...process.env, CONTAINER_ID: "c1", CONTAINER_NAMESPACE: "ns1", FALLBACK_MARK: mark } },
        (error, _out, err) => resolve({ code: error ? (error.code as number) : 0, stderr: err }),
      );
      child.stdin?.end();
    });
  }

  const records = (path: string) =>
    readFileSync(path, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record);

  it("logs a container's stdout and stderr in the server, not in a process of its own", async () => {
    server = (await startBerthLoggerServer({ socketPath: socket }))._unsafeUnwrap();
    const log = join(dir, "c.log");
    const done = await runLogger(
      ["--driver", "json-file", "--log-path", log, "--server", socket],
      "seq 1 3000",
      "printf 'e1\\ne2\\n'",
    );
    expect(done).toEqual({ code: 0, stderr: "" });
    const r = records(log);
    expect(r.filter((x) => x.stream === "stdout").map((x) => x.log)).toEqual(
      Array.from({ length: 3000 }, (_, i) => `${i + 1}\n`),
    );
    expect(r.filter((x) => x.stream === "stderr").map((x) => x.log)).toEqual(["e1\n", "e2\n"]);
    expect(existsSync(mark)).toBe(false);
    expect(server.served).toBe(1);
    expect(server.sessions).toBe(0);
  });

  it("accepts --server=PATH as one argument", async () => {
    server = (await startBerthLoggerServer({ socketPath: socket }))._unsafeUnwrap();
    const log = join(dir, "c.log");
    const done = await runLogger(["--driver=json-file", `--log-path=${log}`, `--server=${socket}`], "echo one");
    expect(done.code).toBe(0);
    expect(records(log).map((x) => x.log)).toEqual(["one\n"]);
    expect(server.served).toBe(1);
  });

  it("runs the logger on its own when nothing is on the socket path, with the whole argv", async () => {
    const args = ["--driver", "json-file", "--log-path", join(dir, "c.log"), "--server", socket];
    const done = await runLogger(args, "printf 'a\\nb\\n'");
    expect(done.code).toBe(7);
    expect(JSON.parse(readFileSync(mark, "utf8"))).toEqual({ argv: args, ready: "1" });
    expect(readFileSync(`${mark}.bytes`, "utf8")).toBe("a\nb\n");
  });

  it("runs the logger on its own when the socket file is stale (nothing listens)", async () => {
    execFileSync("perl", [
      "-MSocket",
      "-e",
      "socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die; bind($s, pack_sockaddr_un($ARGV[0])) or die",
      socket,
    ]);
    expect(existsSync(socket)).toBe(true);
    const done = await runLogger(
      ["--driver", "json-file", "--log-path", join(dir, "c.log"), "--server", socket],
      "echo x",
    );
    expect(done.code).toBe(7);
    expect(readFileSync(`${mark}.bytes`, "utf8")).toBe("x\n");
    // A server replaces the stale file.
    server = (await startBerthLoggerServer({ socketPath: socket }))._unsafeUnwrap();
    const log = join(dir, "c2.log");
    expect((await runLogger(["--driver", "json-file", "--log-path", log, "--server", socket], "echo y")).code).toBe(0);
    expect(records(log).map((x) => x.log)).toEqual(["y\n"]);
  });

  it("passes the server's verdict on bad flags back: exit 2 and the message on stderr", async () => {
    server = (await startBerthLoggerServer({ socketPath: socket }))._unsafeUnwrap();
    const done = await runLogger(["--driver", "nope", "--server", socket], "echo x");
    expect(done.code).toBe(2);
    expect(done.stderr).toContain('berth-logger has no driver "nope"');
    expect(existsSync(mark)).toBe(false);
  });

  it("close() hands a running container back to its own logger, which reads on from there", async () => {
    server = (await startBerthLoggerServer({ socketPath: socket }))._unsafeUnwrap();
    const s = server;
    const log = join(dir, "c.log");
    const running = runLogger(
      ["--driver", "json-file", "--log-path", log, "--server", socket],
      "seq 1 100; sleep 1; seq 101 200",
    );
    for (let i = 0; i < 100 && !(existsSync(log) && records(log).length === 100); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(s.sessions).toBe(1);
    await s.close();
    expect(s.sessions).toBe(0);
    expect(existsSync(socket)).toBe(false);
    const done = await running;
    expect(done.code).toBe(7);
    expect(records(log).map((x) => x.log)).toEqual(Array.from({ length: 100 }, (_, i) => `${i + 1}\n`));
    const rest = Array.from({ length: 100 }, (_, i) => `${i + 101}\n`).join("");
    expect(readFileSync(`${mark}.bytes`, "utf8")).toBe(rest);
  });

  it("runs the logger on its own when the server dies part-way (the connection closes)", async () => {
    // A server that takes the request and then goes away without a verdict.
    const { createServer } = await import("node:net");
    const fake = createServer((c) => c.once("data", () => c.destroy()));
    await new Promise<void>((r) => fake.listen(socket, r));
    try {
      const done = await runLogger(
        ["--driver", "json-file", "--log-path", join(dir, "c.log"), "--server", socket],
        "echo z",
      );
      expect(done.code).toBe(7);
      expect(readFileSync(`${mark}.bytes`, "utf8")).toBe("z\n");
    } finally {
      await new Promise((r) => fake.close(r));
    }
  });

  it("drains for at most --cleanup-time once the client is gone, even while the container still writes", async () => {
    server = (await startBerthLoggerServer({ socketPath: socket }))._unsafeUnwrap();
    const s = server;
    const log = join(dir, "c.log");
    const running = runLogger(
      ["--driver", "json-file", "--log-path", log, "--server", socket, "--cleanup-time", "200ms"],
      "echo a; sleep 3",
    );
    for (let i = 0; i < 100 && s.sessions === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.sessions).toBe(1);
    execFileSync("pkill", ["-KILL", "-f", `perl -x ${bin}`]);
    const killedAt = Date.now();
    while (s.sessions > 0 && Date.now() - killedAt < 2500) await new Promise((r) => setTimeout(r, 20));
    expect(s.sessions).toBe(0);
    expect(Date.now() - killedAt).toBeLessThan(2000);
    expect(records(log).map((x) => x.log)).toEqual(["a\n"]);
    expect((await running).code).toBe(137);
  });

  it("refuses a relative socket path and a socket another server answers on", async () => {
    const relative = await startBerthLoggerServer({ socketPath: "logger.sock" });
    expect(relative._unsafeUnwrapErr().code).toBe("NotAbsolutePath");
    server = (await startBerthLoggerServer({ socketPath: socket }))._unsafeUnwrap();
    const second = await startBerthLoggerServer({ socketPath: socket });
    expect(second._unsafeUnwrapErr().code).toBe("ServerFailed");
    expect(second._unsafeUnwrapErr().message).toContain("already answers");
    // The first one still serves.
    const log = join(dir, "c.log");
    expect((await runLogger(["--driver", "json-file", "--log-path", log, "--server", socket], "echo ok")).code).toBe(0);
  });

  it("makes the socket private and stops when its signal aborts", async () => {
    const stop = new AbortController();
    server = (await startBerthLoggerServer({ socketPath: socket, signal: stop.signal }))._unsafeUnwrap();
    expect(execFileSync("stat", ["-c", "%a", socket]).toString().trim()).toBe("600");
    stop.abort();
    await server.close();
    expect(existsSync(socket)).toBe(false);
  });
});
