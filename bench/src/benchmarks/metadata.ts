// The task metadata server's throughput: `GET /v4/<id>/task` at 64 connections (autocannon, in this
// process) against berth's server with 50 tasks registered and the throttle off, versus a bare
// Node http server answering the same path with the same pre-serialized JSON.
//
// Fairness: each server runs in its own child process (its own event loop, not autocannon's). The
// berth side is `pnpm berth metadata serve` (the CLI, through tsx) serving a generated state file;
// the peer is plain `node` with `http.createServer`, given the exact bytes berth answered with. Both
// are warmed up before measuring, and rounds alternate which side goes first.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import type { Benchmark, Side } from "../harness.js";

const TASKS = 50;
const CONNECTIONS = 64;
const SECONDS_PER_ROUND = 3;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

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

interface Round {
  readonly rps: number;
  readonly p99: number;
  readonly non2xx: number;
}

async function load(url: string, seconds: number): Promise<Round> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, pipelining: 1 });
  const errors = result.errors + result.timeouts;
  if (result.non2xx > 0 || errors > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx responses, ${errors} errors/timeouts`);
  }
  return { rps: result.requests.average, p99: result.latency.p99, non2xx: result.non2xx };
}

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
      const { text, endpointIds } = stateFile();
      const statePath = join(dir, "state.json");
      writeFileSync(statePath, text);
      const target = endpointIds[Math.floor(endpointIds.length / 2)] ?? "";
      const path = `/v4/${target}/task`;

      const port = await freePort();
      const berthServer = await startChild(
        process.execPath,
        [
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
        ],
        {},
        /on http:\/\/127\.0\.0\.1:(\d+)/,
      );
      children.push(berthServer.child);
      const berthUrl = `http://127.0.0.1:${berthServer.port}${path}`;
      const res = await fetch(berthUrl);
      if (res.status !== 200) throw new Error(`berth answered ${res.status} for ${path}`);
      const body = Buffer.from(await res.arrayBuffer());
      const bodyPath = join(dir, "body.json");
      writeFileSync(bodyPath, body);

      const peerServer = await startChild(
        process.execPath,
        ["-e", PEER_SCRIPT],
        { BODY_FILE: bodyPath, TASK_PATH: path },
        /listening (\d+)/,
      );
      children.push(peerServer.child);
      const peerUrl = `http://127.0.0.1:${peerServer.port}${path}`;
      const check = Buffer.from(await (await fetch(peerUrl)).arrayBuffer());
      if (!check.equals(body)) throw new Error("the peer does not answer with berth's bytes");

      const p99: Record<string, number[]> = { berth: [], "node:http": [] };
      const side = (name: string, url: string): Side => ({
        name,
        async run() {
          const r = await load(url, SECONDS_PER_ROUND);
          p99[name]?.push(r.p99);
          console.log(`    ${name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms`);
          return r.rps;
        },
      });
      console.log(`  body: ${body.length} bytes; berth pid ${berthServer.child.pid}, peer pid ${peerServer.child.pid}`);
      return {
        comparisons: [
          {
            name: "metadata-v4-task",
            unit: `req/s at ${CONNECTIONS} connections`,
            berth: side("berth", berthUrl),
            peer: side("node:http", peerUrl),
            rounds: 6,
            warmup: 1,
            goal: { op: ">=", value: 0.9 },
            metric: "rate",
          },
        ],
        teardown: async () => {
          const med = (xs: number[]) => {
            const s = [...xs].sort((a, b) => a - b);
            const m = Math.floor(s.length / 2);
            return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
          };
          // Warm-up rounds are in the arrays too; the median over all rounds is what is reported.
          const b = med(p99.berth ?? []);
          const n = med(p99["node:http"] ?? []);
          console.log(
            `metadata-v4-task p99: berth median ${b} ms, node:http median ${n} ms; goal berth < 5 ms ${b < 5 ? "met" : "missed"}`,
          );
          await teardown();
        },
      };
    } catch (e) {
      await teardown();
      throw e;
    }
  },
};
