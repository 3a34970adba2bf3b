// The reference agent's task start: `runTask` (in process) of the sample task (examples/tasks/sample.json: an HTTP
// app logging through berth-logger and a sidecar) until all its containers run, against the same start done by a
// bash script: `ip netns add` + lo up + the /etc/netns files, the same CNI bridge plugin call (same conflist, env and
// stdin bytes as the agent's), and `ctr run -d --with-ns network:/run/netns/X` per container with the same args,
// env, bind mounts, memory limit and log URI. Teardown is untimed on both sides.
//
// "warm": the image is already in containerd. "cold": the image is pulled from the stack's registry first (berth:
// `registryImages`, @berth/image into containerd; bash: `ctr images pull --plain-http`), and removed (with its
// snapshots, GC synchronous) before every round. containerd shares blobs between namespaces, so when another
// namespace holds the test image's layer its bytes are not downloaded again; both sides still resolve, fetch the
// manifest and config, and unpack.
//
// berth does more than the script: it starts a task metadata server and registers the task, resolves the image
// records, and reads the sidecar's output through FIFOs. One bash process per round (its start counted once).
import { execFile, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bridgePlugin, buildPluginStdin, findPlugin, hostLocalIpam, networkList, pluginEnv } from "@berth/cni";
import { type Containerd, createContainerd, importImage, removeContainer } from "@berth/containerd";
import { buildBerthLoggerUri } from "@berth/log-shim";
import { stack, uniqueName } from "@berth/testkit";
import type { Benchmark, Comparison, Side } from "../harness.js";

const root = resolve(import.meta.dirname, "../../..");
const AGENT = join(root, "examples/src/agent/index.ts");
const SAMPLE = join(root, "examples/tasks/sample.json");
const LOGGER = join(root, "packages/log-shim/dist/bin/berth-logger.cjs");
const WARM_ROUNDS = 8;
const COLD_ROUNDS = 5;

// The reference agent lives in examples/, which this package does not depend on (nor reference in its tsconfig): it
// is loaded at run time and typed here by the little this benchmark uses.
type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error };
interface Container {
  readonly name: string;
  readonly image: string;
  readonly entryPoint?: readonly string[];
  readonly command?: readonly string[];
  readonly environment: ReadonlyArray<readonly [string, string]>;
  readonly memory?: number;
  readonly cpu?: number;
  readonly workingDirectory?: string;
  readonly logConfiguration?: { readonly logDriver: string };
}
interface Definition {
  readonly family: string;
  readonly containerDefinitions: readonly Container[];
}
interface Task {
  readonly id: string;
  stop(options?: { readonly graceMs?: number }): Promise<Result<void>>;
}
type ImageSource = (...args: never[]) => unknown;
interface Agent {
  parseTaskDefinition(text: string): Result<Definition>;
  runTask(def: Definition, options: Record<string, unknown>): Promise<Result<Task>>;
  ociLayoutImages(layout: string): ImageSource;
  registryImages(options: { readonly plainHttp: readonly string[] }): ImageSource;
}

function sh(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function run(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((ok, fail) => {
    execFile(file, [...args], { env: env ?? process.env }, (error, _stdout, stderr) =>
      error ? fail(new Error(`${file} ${args.join(" ")}: ${stderr || error.message}`)) : ok(),
    );
  });
}

function bash(script: string, env: NodeJS.ProcessEnv): Promise<number> {
  const t = performance.now();
  return new Promise((ok, fail) => {
    const child = spawn("bash", ["-c", script], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code) =>
      code === 0 ? ok(performance.now() - t) : fail(new Error(`the bash task start failed (${code}): ${stderr}`)),
    );
  });
}

function unwrap<T>(r: Result<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

export const taskBenchmark: Benchmark = {
  name: "task",
  description: `sample task start (netns, CNI, containers running): runTask vs ip netns + CNI plugin + ctr run -d, warm and cold`,
  async prepare() {
    const s = stack();
    if (!s) throw new Error("the stack is not up: run `bash scripts/stack up` as root first");
    const archive = s.env.TEST_IMAGE_ARCHIVE ?? s.testImageLayout;
    const layout = s.testImageLayout;
    const remote = s.env.TEST_IMAGE_REMOTE ?? `${s.registry}/berth/busybox:latest`;
    if (!archive || !layout) throw new Error("the stack has no test image (TEST_IMAGE_ARCHIVE, TEST_IMAGE_LAYOUT)");
    if (!existsSync(LOGGER)) {
      throw new Error(
        `the sample's app logs through berth-logger: build it first (pnpm --filter @berth/log-shim build)`,
      );
    }
    const agent = (await import(pathToFileURL(AGENT).href)) as Agent;
    const sample = unwrap(agent.parseTaskDefinition(readFileSync(SAMPLE, "utf8")));
    const withImage = (image: string): Definition => ({
      ...sample,
      containerDefinitions: sample.containerDefinitions.map((c) => ({ ...c, image })),
    });
    const plugin = (await findPlugin("bridge", s.cniPath))._unsafeUnwrap();
    const hostResolv = readFileSync("/etc/resolv.conf", "utf8");

    const dir = mkdtempSync(join(tmpdir(), "berth-bench-task-"));
    const bridges: string[] = [];
    const clients: Containerd[] = [];
    const teardown = async () => {
      for (const client of clients) {
        const containers = await client.containers.list();
        for (const c of containers.isOk() ? containers.value : []) await removeContainer(client, c.id);
        const images = await client.images.list();
        for (const i of images.isOk() ? images.value : []) await client.images.delete(i.name, true);
        const leases = await client.leases.list();
        for (const l of leases.isOk() ? leases.value : []) await client.leases.delete(l.id, true);
        await client.namespaces.delete(client.namespace);
        await client.close();
      }
      for (const b of bridges) await run("ip", ["link", "del", b]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    };

    try {
      const comparisons: Comparison[] = [];
      for (const daemon of s.daemons) {
        // Warm rounds run in a namespace holding the image; cold ones in another, so nothing is unpacked there yet.
        const warm = createContainerd({ address: daemon.address, namespace: uniqueName("bench-task") })._unsafeUnwrap();
        const coldClient = createContainerd({
          address: daemon.address,
          namespace: uniqueName("bench-task-cold"),
        })._unsafeUnwrap();
        clients.push(warm, coldClient);
        (await importImage(warm, archive, { snapshotter: daemon.snapshotter }))._unsafeUnwrap();
        const third = () => randomInt(1, 255);
        const berthBridge = `bt${randomBytes(4).toString("hex")}`;
        const peerBridge = `bp${randomBytes(4).toString("hex")}`;
        bridges.push(berthBridge, peerBridge);
        const berthSubnet = `10.236.${third()}.0/24`;
        const peerSubnet = `10.237.${third()}.0/24`;
        const stateDir = join(dir, `${daemon.name}-agent`);
        const peerDir = join(dir, `${daemon.name}-peer`);
        mkdirSync(peerDir, { recursive: true });

        // The agent's conflist, built as runTask builds it, for the peer's bridge, subnet and IPAM directory.
        const list = networkList({
          name: `berth-${peerBridge}`,
          cniVersion: "1.0.0",
          plugins: [
            bridgePlugin({
              bridge: peerBridge,
              isGateway: true,
              ipam: hostLocalIpam({ subnets: [peerSubnet], dataDir: join(peerDir, "ipam") }),
            }),
          ],
        })._unsafeUnwrap();
        const stdin = join(peerDir, "add.json");
        const first = list.plugins[0];
        if (!first) throw new Error("the conflist has no plugin");
        writeFileSync(stdin, buildPluginStdin(first, { network: list.name, cniVersion: list.cniVersion }));

        const berthSide = (client: Containerd, image: string, cold: boolean): Side => {
          const def = withImage(image);
          return {
            name: "berth",
            async run() {
              if (cold) await client.images.delete(image, true);
              const t = performance.now();
              const task = unwrap(
                await agent.runTask(def, {
                  containerd: client,
                  cniPath: s.cniPath,
                  images: cold ? agent.registryImages({ plainHttp: [s.registry] }) : agent.ociLayoutImages(layout),
                  bridge: berthBridge,
                  subnet: berthSubnet,
                  stateDir,
                  snapshotter: daemon.snapshotter,
                  loggerBinary: LOGGER,
                  stopGraceMs: 100,
                  onOutput: () => {},
                }),
              );
              const ms = performance.now() - t;
              unwrap(await task.stop({ graceMs: 100 }));
              return ms;
            },
          };
        };

        const peerSide = (client: Containerd, image: string, cold: boolean): Side => ({
          name: "bash",
          async run() {
            if (cold) await client.images.delete(image, true);
            const id = `bench-${randomBytes(4).toString("hex")}`;
            const ns = `berth-${id}`;
            const taskDir = join(peerDir, "tasks", id);
            const ctr = [sh(daemon.ctr), "--address", sh(daemon.address), "--namespace", sh(client.namespace)].join(
              " ",
            );
            const lines = [
              "set -e",
              `mkdir -p ${sh(taskDir)}`,
              `ip netns add ${sh(ns)}`,
              `ip -n ${sh(ns)} link set lo up`,
              `mkdir -p /etc/netns/${sh(ns)}`,
              `printf %s ${sh(hostResolv)} > /etc/netns/${sh(ns)}/resolv.conf`,
              `printf %s ${sh("127.0.0.1 localhost\n::1 localhost\n")} > /etc/netns/${sh(ns)}/hosts`,
              `printf %s ${sh(`${id}\n`)} > /etc/netns/${sh(ns)}/hostname`,
              `${sh(plugin)} < ${sh(stdin)} > /dev/null`,
            ];
            if (cold) {
              lines.push(
                `${ctr} images pull --plain-http --snapshotter ${sh(daemon.snapshotter)} ${sh(image)} > /dev/null`,
              );
            }
            for (const c of sample.containerDefinitions) {
              const args = ["run", "-d", "--snapshotter", daemon.snapshotter, "--with-ns", `network:/run/netns/${ns}`];
              for (const f of ["resolv.conf", "hosts"]) {
                args.push("--mount", `type=bind,src=/etc/netns/${ns}/${f},dst=/etc/${f},options=rbind:ro`);
              }
              for (const [k, v] of c.environment) args.push("--env", `${k}=${v}`);
              if (c.memory !== undefined) args.push("--memory-limit", String(c.memory * 1024 * 1024));
              if (c.cpu !== undefined) args.push("--cpu-shares", String(Math.max(2, c.cpu)));
              if (c.workingDirectory !== undefined) args.push("--cwd", c.workingDirectory);
              if (c.logConfiguration) {
                const uri = buildBerthLoggerUri(LOGGER, {
                  driver: { name: "json-file", logPath: join(taskDir, `${c.name}-json.log`) },
                })._unsafeUnwrap();
                args.push("--log-uri", uri);
              }
              args.push(image, `${id}-${c.name}`, ...(c.entryPoint ?? []), ...(c.command ?? []));
              lines.push(`${ctr} ${args.map(sh).join(" ")} > /dev/null`);
            }
            const env = pluginEnv(process.env, {
              command: "ADD",
              containerId: id,
              netns: `/run/netns/${ns}`,
              ifName: "eth0",
              cniPath: s.cniPath.split(":"),
            });
            try {
              return await bash(lines.join("\n"), env);
            } finally {
              for (const c of sample.containerDefinitions) {
                await removeContainer(client, `${id}-${c.name}`, { snapshotter: daemon.snapshotter });
              }
              await new Promise<void>((done) => {
                const child = spawn(plugin, [], {
                  env: { ...env, CNI_COMMAND: "DEL" },
                  stdio: ["pipe", "ignore", "ignore"],
                });
                child.on("close", () => done());
                child.on("error", () => done());
                child.stdin.end(readFileSync(stdin));
              });
              await run("ip", ["netns", "del", ns]).catch(() => {});
              rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
              rmSync(taskDir, { recursive: true, force: true });
            }
          },
        });

        comparisons.push({
          name: `task-start-warm-${daemon.name}`,
          unit: "ms from start to all containers running (image present)",
          berth: berthSide(warm, sample.containerDefinitions[0]?.image ?? "", false),
          peer: peerSide(warm, sample.containerDefinitions[0]?.image ?? "", false),
          rounds: WARM_ROUNDS,
          warmup: 1,
          goal: { op: "<=", value: 1.0 },
          metric: "time",
        });
        comparisons.push({
          name: `task-start-cold-${daemon.name}`,
          unit: "ms from start to all containers running (image pulled from the registry)",
          berth: berthSide(coldClient, remote, true),
          peer: peerSide(coldClient, remote, true),
          rounds: COLD_ROUNDS,
          warmup: 1,
          goal: { op: "<=", value: 1.0 },
          metric: "time",
        });
      }
      return { comparisons, teardown };
    } catch (e) {
      await teardown();
      throw e;
    }
  },
};
