// The task metadata server's throughput: `GET /v4/<id>/task` at 64 connections against berth's
// server with 50 tasks registered and the throttle off, versus a bare Node http server answering
// the same path with the same pre-serialized JSON.
//
// Fairness:
// - Each server runs in its own child process, and the load generator is not either server's event
//   loop: `wrk` (a C program; `apt-get install -y wrk`) when it is installed, else autocannon in
//   this process (which then shares the CPU with the servers and caps the rates it can measure).
// - With `taskset` and at least 2 CPUs, both servers are pinned to the last CPU and wrk to the
//   others, so the load generator never competes with the server it measures, and both servers
//   get the same core. BERTH_BENCH_METADATA_PIN=0 turns pinning off.
// - The berth side is plain `node` on a minimal entry that does what `pnpm berth metadata serve
//   --no-throttle` does (state file -> `registryFromStateFile` -> `startMetadataServer`, through the
//   same reloadable-provider indirection) with the package as built (`packages/metadata/dist`,
//   rebuilt first when older than its sources). Running through tsx instead costs the server
//   about a fifth more CPU per request at steady state; BERTH_BENCH_METADATA_VIA=cli measures the
//   CLI through tsx anyway. The peer is plain `node` with `http.createServer`, given the exact
//   bytes berth answered with. Both are warmed up before measuring; rounds alternate.
// - Besides req/s, each round reads the server's CPU time from /proc (the whole process tree):
//   CPU microseconds per request is berth's per-request cost, and it is less disturbed by other
//   load on the machine than the rate is.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import autocannon from "autocannon";
import type { Benchmark, Side } from "../harness.js";
import { median } from "../stats.js";

const TASKS = 50;
const CONNECTIONS = 64;
const SECONDS_PER_ROUND = 2;
const ROUNDS = 10;
const WARMUP = 1;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const packageDir = join(root, "packages/metadata");
const builtEntry = join(packageDir, "dist/index.js");

// The bare peer: answers the one path with the pre-serialized body, 404 otherwise.
const PEER_SCRIPT = `
const http = require("node:http");
const fs = require("node:fs");
const body = fs.readFileSync(process.env.BODY_FILE);
const path = process.env.TASK_PATH;
const server = http.createServer((req, res) => {
  if (req.url === path) {
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
    res.end(body);
  } else {
    res.writeHead(404, { "Content-Length": 0 });
    res.end();
  }
});
server.keepAliveTimeout = 5000;
server.listen(0, "127.0.0.1", () => console.log("listening " + server.address().port));
`;

// berth's side without tsx: what `pnpm berth metadata serve --state FILE --listen ADDR --no-throttle`
// does (examples/src/cli/commands/metadata.ts), on the built package.
const BERTH_SCRIPT = `
import { readFileSync } from "node:fs";
import { registryFromStateFile, startMetadataServer } from ${JSON.stringify(pathToFileURL(builtEntry).href)};
const built = registryFromStateFile(readFileSync(process.env.STATE_FILE, "utf8"));
if (built.isErr()) { console.error(built.error.message); process.exit(1); }
const current = built.value;
const provider = { lookup: (id) => current.lookup(id), credentials: (id) => current.credentials(id) };
const started = await startMetadataServer({ provider, credentials: provider, host: "127.0.0.1", port: 0, throttle: false });
if (started.isErr()) { console.error(started.error.message); process.exit(1); }
const server = started.value;
console.log("berth metadata: serving " + current.size + " task(s) on " + server.url);
process.once("SIGTERM", () => server.close().then(() => process.exit(0)));
`;

function stateFile(): { text: string; endpointIds: string[] } {
  const endpointIds: string[] = [];
  const tasks = Array.from({ length: TASKS }, (_, t) => {
    const taskId = randomBytes(16).toString("hex");
    const arn = `arn:aws:ecs:us-west-2:111122223333:task/default/${taskId}`;
    const containers = ["~internal~ecs~pause", "web", "sidecar"].map((name, c) => ({
      runtimeId: randomBytes(32).toString("hex"),
      name,
      runtimeName: `ecs-web-${t}-${name.replace(/~/g, "")}-${c}`,
      image: c === 0 ? "amazon/amazon-ecs-pause:0.1.0" : `111122223333.dkr.ecr.us-west-2.amazonaws.com/${name}:latest`,
      imageId: `sha256:${randomBytes(32).toString("hex")}`,
      desiredStatus: "RUNNING",
      knownStatus: "RUNNING",
      labels: { "com.amazonaws.ecs.cluster": "default", "com.amazonaws.ecs.task-arn": arn },
      limits: { cpu: 256, memory: 512 },
      createdAt: "2026-01-01T00:00:00.123456789Z",
      startedAt: "2026-01-01T00:00:01.123456789Z",
      type: c === 0 ? "CNI_PAUSE" : "NORMAL",
      logDriver: "awslogs",
      logOptions: {
        "awslogs-group": "/ecs/web",
        "awslogs-region": "us-west-2",
        "awslogs-stream": `ecs/${name}/${taskId}`,
      },
    }));
    const endpoints: Record<string, string> = {};
    for (const c of containers) {
      const id = randomBytes(16).toString("hex");
      endpoints[c.runtimeId] = id;
      endpointIds.push(id);
    }
    return {
      task: {
        cluster: "default",
        arn,
        family: "web",
        revision: 7,
        desiredStatus: "RUNNING",
        knownStatus: "RUNNING",
        limits: { cpu: 1, memory: 2048 },
        availabilityZone: "us-west-2a",
        launchType: "FARGATE",
        networks: [
          { mode: "awsvpc", ipv4Addresses: [`10.0.${t}.10`], attachmentIndex: 0, macAddress: "0e:10:e2:01:bd:91" },
        ],
        containers,
      },
      endpoints,
    };
  });
  return { text: JSON.stringify({ tasks }), endpointIds };
}

/** Spawns a server process and resolves with its port once `match` finds it in stdout. */
function startChild(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  match: RegExp,
): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    const timer = setTimeout(() => fail(new Error(`server did not start: ${out}${err}`)), 60_000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = match.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        done({ child, port: Number(m[1]) });
      }
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`server exited with ${code}: ${out}${err}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.removeAllListeners("exit");
    child.once("exit", () => done());
    child.kill("SIGTERM");
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }, 5000).unref();
  });
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((done, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

function onPath(command: string): boolean {
  const r = spawnSync(command, ["--version"], { stdio: "ignore" });
  return r.error === undefined;
}

/** The newest modification time (ms) of the non-test TypeScript sources under `dir`. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

/** Builds `@berth/metadata` when its dist is missing or older than its sources. */
function ensureBuilt(): void {
  const built = existsSync(builtEntry) ? statSync(builtEntry).mtimeMs : 0;
  if (built >= newestSource(join(packageDir, "src"))) return;
  console.log("  packages/metadata/dist is missing or older than src: pnpm --filter @berth/metadata run build");
  const r = spawnSync("pnpm", ["--filter", "@berth/metadata", "run", "build"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    throw new Error(`building @berth/metadata failed (${r.error?.message ?? `exit ${r.status}`}); run it by hand`);
  }
}

const CLOCK_TICKS = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** CPU seconds (user + system) used so far by `pid` and its descendants, from /proc. */
function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  const visit = (p: number) => {
    try {
      // Fields after the parenthesized command: state is field 3, utime 14, stime 15.
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${tid}/children`, "utf8").trim();
        for (const c of children === "" ? [] : children.split(" ")) visit(Number(c));
      }
    } catch {
      // The process is gone (or /proc is unavailable): it adds nothing more.
    }
  };
  visit(pid);
  return ticks / CLOCK_TICKS;
}

interface Round {
  readonly rps: number;
  /** The 99th percentile latency, ms. */
  readonly p99: number;
  readonly requests: number;
}

interface Loader {
  readonly name: string;
  run(url: string, seconds: number): Promise<Round>;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Parses wrk's report (`--latency`); throws on non-2xx responses and socket errors. */
function parseWrk(url: string, out: string): Round {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s*(\d+) requests in /m.exec(out);
  const p99 = /^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  if (rps?.[1] === undefined || total?.[1] === undefined || p99?.[1] === undefined || p99[2] === undefined) {
    throw new Error(`cannot read wrk's report for ${url}:\n${out}`);
  }
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  if (non2xx !== null || errors > 0) {
    throw new Error(`${url}: ${non2xx?.[1] ?? 0} non-2xx responses, ${errors} socket errors/timeouts`);
  }
  return { rps: Number(rps[1]), p99: Number(p99[1]) * (UNIT_MS[p99[2]] ?? 1), requests: Number(total[1]) };
}

function wrkLoader(cpuList: string | undefined): Loader {
  return {
    name: cpuList === undefined ? "wrk" : `wrk (taskset -c ${cpuList})`,
    run(url, seconds) {
      const args = ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--timeout", "10s", "--latency", url];
      const [command, argv] = cpuList === undefined ? ["wrk", args] : ["taskset", ["-c", cpuList, "wrk", ...args]];
      return new Promise((done, fail) => {
        const child = spawn(command, argv as string[], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        child.stderr.on("data", (d: Buffer) => {
          out += d.toString();
        });
        child.once("error", fail);
        child.once("exit", (code) => {
          if (code !== 0) return fail(new Error(`wrk exited with ${code}:\n${out}`));
          try {
            done(parseWrk(url, out));
          } catch (e) {
            fail(e);
          }
        });
      });
    },
  };
}

const autocannonLoader: Loader = {
  name: "autocannon (in the bench process)",
  async run(url, seconds) {
    const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, pipelining: 1 });
    const errors = result.errors + result.timeouts;
    if (result.non2xx > 0 || errors > 0) {
      throw new Error(`${url}: ${result.non2xx} non-2xx responses, ${errors} errors/timeouts`);
    }
    return { rps: result.requests.average, p99: result.latency.p99, requests: result.requests.total };
  },
};

export const metadataBenchmark: Benchmark = {
  name: "metadata",
  description: `GET /v4/<id>/task at ${CONNECTIONS} connections, ${TASKS} tasks, throttle off: berth's server vs bare node:http`,
  async prepare() {
    const dir = mkdtempSync(join(tmpdir(), "berth-bench-metadata-"));
    const children: ChildProcess[] = [];
    const teardown = async () => {
      await Promise.all(children.map(stop));
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      const n = cpus().length;
      const pin = process.env.BERTH_BENCH_METADATA_PIN !== "0" && n >= 2 && onPath("taskset");
      const serverCpu = String(n - 1);
      const loadCpus = n === 2 ? "0" : `0-${n - 2}`;
      const pinned = (argv: string[]): [string, string[]] =>
        pin ? ["taskset", ["-c", serverCpu, ...argv]] : [argv[0] ?? "", argv.slice(1)];
      let loader: Loader;
      if (onPath("wrk")) {
        loader = wrkLoader(pin ? loadCpus : undefined);
      } else {
        console.log(
          "  wrk is not installed (Debian/Ubuntu: `apt-get install -y wrk`): falling back to autocannon in the " +
            "bench process, which competes with the servers for CPU and caps what it can measure",
        );
        loader = autocannonLoader;
      }
      const viaCli = process.env.BERTH_BENCH_METADATA_VIA === "cli";

      const { text, endpointIds } = stateFile();
      const statePath = join(dir, "state.json");
      writeFileSync(statePath, text);
      const target = endpointIds[Math.floor(endpointIds.length / 2)] ?? "";
      const path = `/v4/${target}/task`;

      let berthServer: { child: ChildProcess; port: number };
      if (viaCli) {
        const port = await freePort();
        const [command, args] = pinned([
          process.execPath,
          join(root, "node_modules/tsx/dist/cli.mjs"),
          "--conditions=@berth/source",
          "examples/src/cli/main.ts",
          "metadata",
          "serve",
          "--state",
          statePath,
          "--listen",
          `127.0.0.1:${port}`,
          "--no-throttle",
        ]);
        berthServer = await startChild(command, args, {}, /on http:\/\/127\.0\.0\.1:(\d+)/);
      } else {
        ensureBuilt();
        const [command, args] = pinned([process.execPath, "--input-type=module", "-e", BERTH_SCRIPT]);
        berthServer = await startChild(command, args, { STATE_FILE: statePath }, /on http:\/\/127\.0\.0\.1:(\d+)/);
      }
      children.push(berthServer.child);
      const berthUrl = `http://127.0.0.1:${berthServer.port}${path}`;
      const res = await fetch(berthUrl);
      if (res.status !== 200) throw new Error(`berth answered ${res.status} for ${path}`);
      const body = Buffer.from(await res.arrayBuffer());
      const bodyPath = join(dir, "body.json");
      writeFileSync(bodyPath, body);

      const [peerCommand, peerArgs] = pinned([process.execPath, "-e", PEER_SCRIPT]);
      const peerServer = await startChild(
        peerCommand,
        peerArgs,
        { BODY_FILE: bodyPath, TASK_PATH: path },
        /listening (\d+)/,
      );
      children.push(peerServer.child);
      const peerUrl = `http://127.0.0.1:${peerServer.port}${path}`;
      const check = Buffer.from(await (await fetch(peerUrl)).arrayBuffer());
      if (!check.equals(body)) throw new Error("the peer does not answer with berth's bytes");

      // Per side: p99 (ms) and server CPU per request (us) of every round, warm-up first.
      const p99: Record<string, number[]> = { berth: [], "node:http": [] };
      const cpuPerRequest: Record<string, number[]> = { berth: [], "node:http": [] };
      const side = (name: string, url: string, pid: number): Side => ({
        name,
        async run() {
          const before = treeCpuSeconds(pid);
          const r = await loader.run(url, SECONDS_PER_ROUND);
          const cpuUs = ((treeCpuSeconds(pid) - before) * 1e6) / r.requests;
          p99[name]?.push(r.p99);
          cpuPerRequest[name]?.push(cpuUs);
          console.log(
            `    ${name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99.toFixed(2)} ms, server CPU ${cpuUs.toFixed(1)} us/request`,
          );
          return r.rps;
        },
      });
      console.log(
        `  body: ${body.length} bytes; load: ${loader.name}; servers ${pin ? `pinned to CPU ${serverCpu}` : "not pinned"}; ` +
          `berth ${viaCli ? "through tsx (pnpm berth metadata serve)" : "node on packages/metadata/dist"} ` +
          `pid ${berthServer.child.pid}, peer pid ${peerServer.child.pid}`,
      );
      return {
        comparisons: [
          {
            name: "metadata-v4-task",
            unit: `req/s at ${CONNECTIONS} connections`,
            berth: side("berth", berthUrl, berthServer.child.pid ?? 0),
            peer: side("node:http", peerUrl, peerServer.child.pid ?? 0),
            rounds: ROUNDS,
            warmup: WARMUP,
            goal: { op: ">=", value: 0.9 },
            metric: "rate",
          },
        ],
        teardown: async () => {
          // Medians over the measured rounds (the warm-up rounds come first and are left out).
          const measured = (xs: number[] | undefined) => (xs ?? []).slice(WARMUP);
          const b = measured(p99.berth);
          const n = measured(p99["node:http"]);
          const bc = measured(cpuPerRequest.berth);
          const nc = measured(cpuPerRequest["node:http"]);
          if (b.length > 0 && n.length > 0 && bc.length > 0 && nc.length > 0) {
            const bp = median(b);
            console.log(
              `metadata-v4-task p99: berth median ${bp.toFixed(2)} ms, node:http median ${median(n).toFixed(2)} ms; ` +
                `goal berth < 5 ms ${bp < 5 ? "met" : "missed"}`,
            );
            console.log(
              `metadata-v4-task server CPU per request: berth median ${median(bc).toFixed(1)} us, node:http median ` +
                `${median(nc).toFixed(1)} us (ratio ${(median(bc) / median(nc)).toFixed(3)})`,
            );
          }
          await teardown();
        },
      };
    } catch (e) {
      await teardown();
      throw e;
    }
  },
};
