// Stats for a real running container: task metrics read from the stack's containerd (through its
// ctr), converted by berth and served by the metadata server; network counters read from a network
// namespace this test creates.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type StackDaemon, stack, uniqueName } from "@berth/testkit";
import { ResultAsync } from "neverthrow";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type CgroupMetrics,
  createCgroupStatsProvider,
  createTaskRegistry,
  type DockerStats,
  MetadataError,
  newEndpointId,
  readNetnsCounters,
  startMetadataServer,
  type TaskState,
} from "../src/index.js";

const run = promisify(execFile);
const s = stack();
const archive = s?.env.TEST_IMAGE_ARCHIVE;
const imageRef = s?.testImageRef ?? "docker.io/library/busybox-test:latest";

/** ctr prints the Go structs' JSON (snake_case); the generated client's fields are camelCase. */
function camelize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelize);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), camelize(v)]),
  );
}

async function cgroupVersion(): Promise<1 | 2> {
  const { stdout } = await run("stat", ["-fc", "%T", "/sys/fs/cgroup"]);
  return stdout.trim() === "cgroup2fs" ? 2 : 1;
}

function ctrMetrics(daemon: StackDaemon, ns: string, version: 1 | 2) {
  return (_task: TaskState, container: TaskState["containers"][number], signal: AbortSignal) =>
    ResultAsync.fromPromise(
      run(daemon.ctr, ["-a", daemon.address, "-n", ns, "tasks", "metrics", "--format", "json", container.runtimeId], {
        signal,
      }),
      (cause) => new MetadataError("ProviderFailed", "ctr tasks metrics failed", { cause }),
    ).map(({ stdout }) => ({ version, metrics: camelize(JSON.parse(stdout)) }) as CgroupMetrics);
}

describe.skipIf(!s || !archive).each(s?.daemons ?? [])("stats of a real container on $name", (daemon) => {
  const ns = uniqueName("meta");
  const id = uniqueName("c");
  const ctr = (...args: string[]) => run(daemon.ctr, ["-a", daemon.address, "-n", ns, ...args], { encoding: "utf8" });

  beforeAll(async () => {
    await ctr("images", "import", archive ?? "");
    // A light, steady CPU load so the counters move between samples.
    await ctr(
      "run",
      "-d",
      imageRef,
      id,
      "sh",
      "-c",
      "while :; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; sleep 0.05; done",
    );
  });

  afterAll(async () => {
    await ctr("tasks", "kill", "-s", "KILL", id).catch(() => {});
    for (let i = 0; i < 20; i++) {
      const gone = await ctr("tasks", "rm", "-f", id).then(
        () => true,
        (e: { stderr?: string }) => /not found/.test(e.stderr ?? ""),
      );
      if (gone) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await ctr("containers", "rm", id).catch(() => {});
    await ctr("images", "rm", imageRef).catch(() => {});
    // Content and snapshots go with containerd's garbage collection, shortly after.
    for (let i = 0; i < 40; i++) {
      const removed = await run(daemon.ctr, ["-a", daemon.address, "namespaces", "rm", ns]).then(
        () => true,
        () => false,
      );
      if (removed) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const { stdout } = await run(daemon.ctr, ["-a", daemon.address, "namespaces", "ls", "-q"]);
    expect(stdout.split("\n")).not.toContain(ns);
  });

  it("serves plausible Docker stats through /v4/<id>/stats and /task/stats", async () => {
    const version = await cgroupVersion();
    const task: TaskState = {
      cluster: "berth-test",
      arn: `arn:aws:ecs:local:000000000000:task/berth-test/${id}`,
      family: "stats",
      revision: 1,
      knownStatus: "RUNNING",
      containers: [
        {
          runtimeId: id,
          name: "load",
          runtimeName: id,
          image: imageRef,
          imageId: "",
          desiredStatus: "RUNNING",
          knownStatus: "RUNNING",
        },
      ],
    };
    const registry = createTaskRegistry();
    const endpointId = newEndpointId();
    registry.registerTask(task, { [id]: endpointId })._unsafeUnwrap();
    const stats = createCgroupStatsProvider({ metrics: ctrMetrics(daemon, ns, version) });
    await using server = (await startMetadataServer({ provider: registry, stats, throttle: false }))._unsafeUnwrap();

    const fetchStats = async (path: string) => {
      const res = await fetch(`${server.url}/v4/${endpointId}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      return (await res.json()) as unknown;
    };
    const first = (await fetchStats("/stats")) as DockerStats;
    await new Promise((r) => setTimeout(r, 1500));
    const second = (await fetchStats("/stats")) as DockerStats;

    console.log(`cgroup v${version}:`, JSON.stringify(second).slice(0, 600));
    expect(first.id).toBe(id);
    expect(first.name).toBe(`/${id}`);
    expect(first.preread).toBe("0001-01-01T00:00:00Z");
    expect(first.memory_stats.usage).toBeGreaterThan(0);
    expect(first.pids_stats.current).toBeGreaterThanOrEqual(1);
    expect(first.cpu_stats.cpu_usage.total_usage).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(second.read))).toBe(false);
    expect(second.preread).toBe(first.read);
    expect(second.precpu_stats).toStrictEqual(first.cpu_stats);
    expect(second.cpu_stats.cpu_usage.total_usage).toBeGreaterThan(first.cpu_stats.cpu_usage.total_usage);
    expect(second.cpu_stats.system_cpu_usage ?? 0).toBeGreaterThan(first.cpu_stats.system_cpu_usage ?? 0);
    expect(second.cpu_stats.online_cpus).toBeGreaterThanOrEqual(1);
    if (version === 1) expect(second.cpu_stats.cpu_usage.percpu_usage?.length).toBeGreaterThanOrEqual(1);

    const all = (await fetchStats("/task/stats")) as Record<string, DockerStats>;
    expect(Object.keys(all)).toStrictEqual([id]);
    expect(all[id]?.memory_stats.usage).toBeGreaterThan(0);
    expect(all[id]?.cpu_stats.cpu_usage.total_usage).toBeGreaterThanOrEqual(second.cpu_stats.cpu_usage.total_usage);
  });
});

describe.skipIf(!s)("network counters of a network namespace", () => {
  const created: string[] = [];
  afterEach(async () => {
    for (const name of created.splice(0)) await run("ip", ["netns", "delete", name]).catch(() => {});
  });

  it("reads /proc/net/dev of a namespace by name and by path, and feeds network_rate_stats", async () => {
    const name = uniqueName("net");
    await run("ip", ["netns", "add", name]);
    created.push(name);
    await run("ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"]);
    // Five 100-byte UDP datagrams to 127.0.0.1 inside the namespace (its own loopback only).
    const send =
      "const s=require('dgram').createSocket('udp4');let n=0;" +
      "const f=()=>s.send(Buffer.alloc(100),9,'127.0.0.1',()=>{if(++n<5)f();else s.close()});f()";
    const traffic = () => run("ip", ["netns", "exec", name, process.execPath, "-e", send]);
    await traffic();

    const byName = (await readNetnsCounters({ name }, { exclude: [] }))._unsafeUnwrap();
    expect(byName.lo?.rx_bytes).toBeGreaterThan(0);
    expect(byName.lo?.tx_packets).toBeGreaterThanOrEqual(5);
    const byPath = (await readNetnsCounters({ path: `/run/netns/${name}` }, { exclude: [] }))._unsafeUnwrap();
    expect(byPath.lo?.rx_bytes).toBeGreaterThanOrEqual(byName.lo?.rx_bytes ?? 0);
    expect((await readNetnsCounters({ name }))._unsafeUnwrap()).toStrictEqual({}); // lo left out by default
    const missing = await readNetnsCounters({ name: uniqueName("absent") });
    expect(missing._unsafeUnwrapErr().code).toBe("ProviderFailed");

    const task: TaskState = {
      cluster: "c",
      arn: "arn:aws:ecs:local:0:task/c/net",
      family: "f",
      revision: 1,
      knownStatus: "RUNNING",
      containers: [],
    };
    const container = {
      runtimeId: "net",
      name: "net",
      runtimeName: "net",
      image: "i",
      imageId: "",
      desiredStatus: "RUNNING",
      knownStatus: "RUNNING",
    } as const;
    const provider = createCgroupStatsProvider({
      metrics: () => ResultAsync.fromSafePromise(Promise.resolve({ version: 2, metrics: {} } as CgroupMetrics)),
      network: (_t, signal) => readNetnsCounters({ name }, { exclude: [], signal }),
    });
    const signal = AbortSignal.timeout(10_000);
    const a = (await provider.containerStats(task, container, signal))._unsafeUnwrap();
    expect(a?.network_rate_stats).toBeUndefined();
    await traffic();
    const b = (await provider.containerStats(task, container, signal))._unsafeUnwrap();
    expect(b?.networks?.lo?.rx_bytes).toBeGreaterThan(a?.networks?.lo?.rx_bytes ?? 0);
    expect(b?.network_rate_stats?.rx_bytes_per_sec).toBeGreaterThan(0);
  });
});
