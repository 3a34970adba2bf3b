// The reference agent survives its own death: `pnpm berth task run --detach`, SIGKILL the agent process, and the
// task's containers keep running (containerd's shims own them). `task ls` shows the task orphaned, `task attach`
// re-adopts it into a new agent (its metadata endpoint answers again from inside the container), `task stop` stops
// it (also straight after the kill, with no agent), and a task whose essential container exited while no agent ran
// is cleaned up on attach. Every time nothing may be left: namespace, veth, mount, container, task, lease, snapshot,
// CNI cache entry, task directory, record.
import { execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Containerd, createFifoIO } from "@berth/containerd";
import { stack } from "@berth/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fifoDirsFor } from "../src/agent/attach.js";
import { isAlive, readTaskRecord, type TaskRecord } from "../src/agent/state.js";
import { closeWorld, LOGGER, openWorld, quiet, taskCli, wipeNamespace } from "./agent-fixture.js";

const s = stack();

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The berth-made veth ends (ENI stand-ins) on the host. */
function eniLinks(): Set<string> {
  return new Set(
    quiet("ip", ["-o", "link", "show"])
      .split("\n")
      .map((l) => /^\d+: (b[he][0-9a-f]{8})[@:]/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined),
  );
}

/** The value of a neverthrow result, or its error thrown (with its message, unlike `_unsafeUnwrap`). */
function must<T>(r: { isOk(): boolean; value?: T; error?: unknown }, what: string): T {
  if (r.isOk()) return r.value as T;
  throw new Error(`${what}: ${(r.error as Error).message}`, { cause: r.error });
}

/** Runs `sh -c SCRIPT` inside a running container through containerd (an exec with FIFO stdio); its stdout. */
async function execIn(client: Containerd, containerId: string, script: string): Promise<string> {
  const container = must(await client.containers.get(containerId), "containers.get");
  const spec = container.spec as { process: Record<string, unknown> };
  const execId = `probe-${randomBytes(3).toString("hex")}`;
  const io = must(await createFifoIO({ id: execId }), "createFifoIO");
  try {
    const process = { ...spec.process, args: ["sh", "-c", script], terminal: false };
    must(await client.tasks.exec(containerId, { execId, process, ...io.paths }), "tasks.exec");
    const waited = client.tasks.wait(containerId, execId);
    must(await client.tasks.start(containerId, execId), "tasks.start");
    must(io.attach(), "attach");
    let out = "";
    io.stdout?.on("data", (b: Buffer) => {
      out += b.toString("utf8");
    });
    io.stderr?.on("data", (b: Buffer) => {
      out += b.toString("utf8");
    });
    const status = must(await waited, "tasks.wait");
    await Promise.race([io.drained(), new Promise((r) => setTimeout(r, 2000))]);
    await client.tasks.deleteProcess(containerId, execId);
    if (status.exitStatus !== 0) throw new Error(`${script} exited with ${status.exitStatus}: ${out}`);
    return out;
  } finally {
    await io.close();
  }
}

describe.skipIf(!s?.testImageLayout || !existsSync(LOGGER)).each(s?.daemons ?? [])(
  "reference agent: re-attach after the agent dies on $name",
  (daemon) => {
    let client: Containerd;
    let dir: string;
    let bridge: string;
    let subnet: string;
    const agents = new Set<number>();

    beforeEach(() => {
      ({ client, dir, bridge, subnet } = openWorld({
        address: daemon.address,
        name: "reattach",
        bridgePrefix: "br",
        subnetOctet: 232,
      }));
      agents.clear();
    });

    afterEach(async () => {
      // Agents this test started (the ones recorded now, and every one it saw): stop them; then anything left.
      for (const name of existsSync(join(dir, "running")) ? readdirSync(join(dir, "running")) : []) {
        const text = readFileSync(join(dir, "running", name), "utf8");
        const pid = /"pid": (\d+)/.exec(text)?.[1];
        if (pid) agents.add(Number(pid));
        const eni = /"eniHostInterface": "(bh[0-9a-f]{8})"/.exec(text)?.[1];
        if (eni) quiet("ip", ["link", "del", eni]);
        const id = name.replace(/\.json$/, "");
        quiet("ip", ["netns", "delete", `berth-${id}`]);
        for (const c of ["app", "sidecar", "ticker"]) {
          for (const fifos of fifoDirsFor(`${id}-${c}`)) rmSync(fifos, { recursive: true, force: true });
        }
      }
      for (const pid of agents) if (isAlive(pid)) process.kill(pid, "SIGKILL");
      await closeWorld({ client, dir, bridge, subnet }, daemon.snapshotter);
    });

    const runDetached = async (...extra: string[]): Promise<{ id: string; record: TaskRecord }> => {
      const fileAt = extra.indexOf("--file");
      const file = fileAt >= 0 ? (extra[fileAt + 1] ?? "") : "examples/tasks/sample.json";
      const rest = fileAt >= 0 ? [...extra.slice(0, fileAt), ...extra.slice(fileAt + 2)] : extra;
      const started = await taskCli(
        "run",
        file,
        "--detach",
        "--address",
        daemon.address,
        "--namespace",
        client.namespace,
        "--snapshotter",
        daemon.snapshotter,
        "--state-dir",
        dir,
        "--image-layout",
        s?.testImageLayout ?? "",
        "--cni-path",
        s?.cniPath ?? "",
        "--grace-ms",
        "1000",
        ...rest,
      );
      expect(started.code, started.stderr).toBe(0);
      const id = started.stdout.trim();
      const record = (await readTaskRecord(dir, id)) as { ok: true; value: TaskRecord };
      expect(record.ok && record.value?.runtime).toBeDefined();
      agents.add(record.value.pid);
      return { id, record: record.value };
    };

    const killAgent = async (record: TaskRecord) => {
      process.kill(record.pid, "SIGKILL");
      await waitFor("the agent to die", () => !isAlive(record.pid));
    };

    /** Everything the task made is gone. */
    const expectNothingLeft = async (id: string) => {
      expect(existsSync(`/run/netns/berth-${id}`)).toBe(false);
      expect(existsSync(`/etc/netns/berth-${id}`)).toBe(false);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(`berth-${id}`);
      expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
      expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
      expect((await client.tasks.list())._unsafeUnwrap()).toEqual([]);
      expect((await client.leases.list())._unsafeUnwrap()).toEqual([]);
      const snapshots = (await client.snapshots(daemon.snapshotter).list())._unsafeUnwrap();
      expect(snapshots.filter((x) => x.name.startsWith(id))).toEqual([]);
      const cache = join(dir, "cni-cache", "results");
      expect((existsSync(cache) ? readdirSync(cache) : []).filter((f) => f.includes(id))).toEqual([]);
      expect(existsSync(join(dir, "tasks", id))).toBe(false);
      expect(await readTaskRecord(dir, id)).toEqual({ ok: true, value: undefined });
      // The pipe-stdio containers' FIFO directories (made by the dead agent) are gone too.
      for (const c of ["app", "sidecar", "ticker"]) expect(fifoDirsFor(`${id}-${c}`)).toEqual([]);
    };

    it("lists the task as orphaned, re-attaches (metadata answers again in the container), stops cleanly", async () => {
      const { id, record } = await runDetached("--bridge", bridge, "--subnet", subnet);
      const rt = record.runtime;
      if (!rt) throw new Error("no runtime in the record");
      const appId = `${id}-app`;
      const endpoint = `http://${rt.metadata.host}:${rt.metadata.port}/v4/${rt.metadata.endpoints[appId]}`;
      expect((await fetch(endpoint).then((r) => r.json())) as unknown).toMatchObject({ DockerId: appId });
      // The sidecar ends by itself; wait until the agent recorded that, so the re-attach has to restore it.
      await waitFor("the sidecar's exit in the record", async () => {
        const r = await readTaskRecord(dir, id);
        const c = r.ok ? r.value?.runtime?.metadata.task.containers.find((x) => x.name === "sidecar") : undefined;
        return c?.knownStatus === "STOPPED";
      });

      await killAgent(record);
      await expect(fetch(endpoint)).rejects.toThrow();
      const ip = record.ip;
      expect(await fetch(`http://${ip}:8080/`).then((r) => r.text())).toBe("hello from the berth sample app\n");
      const listed = await taskCli("ls", "--state-dir", dir);
      expect(listed.stdout).toMatch(
        new RegExp(`^${id} +berth-sample +${ip.replace(/\./g, "\\.")} +orphaned \\(pid ${record.pid} gone\\)`, "m"),
      );

      const attached = await taskCli("attach", id, "--detach", "--state-dir", dir);
      expect(attached.code, attached.stderr).toBe(0);
      expect(attached.stdout.trim()).toBe(id);
      const after = (await readTaskRecord(dir, id)) as { ok: true; value: TaskRecord };
      agents.add(after.value.pid);
      expect(after.value.pid).not.toBe(record.pid);
      expect(isAlive(after.value.pid)).toBe(true);
      expect((await taskCli("ls", "--state-dir", dir)).stdout).toMatch(
        new RegExp(`^${id} .* pid ${after.value.pid} `, "m"),
      );

      // From inside the app container, through the variables it was started with.
      const own = JSON.parse(await execIn(client, appId, "wget -qO- $ECS_CONTAINER_METADATA_URI_V4")) as unknown;
      expect(own).toMatchObject({ DockerId: appId, Name: "app", KnownStatus: "RUNNING" });
      const meta = JSON.parse(await execIn(client, appId, "wget -qO- $ECS_CONTAINER_METADATA_URI_V4/task")) as {
        TaskARN: string;
        Containers: { Name: string; KnownStatus: string; ExitCode?: number }[];
      };
      expect(meta.TaskARN).toBe(record.arn);
      expect(meta.Containers.find((c) => c.Name === "sidecar")).toMatchObject({ KnownStatus: "STOPPED", ExitCode: 0 });

      const stopped = await taskCli("stop", id, "--state-dir", dir);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stdout.trim()).toBe(`stopped ${id}`);
      expect(isAlive(after.value.pid)).toBe(false);
      await expectNothingLeft(id);
      const log = readFileSync(join(dir, "logs", `${id}.log`), "utf8");
      expect(log).toContain("berth task: found app: running");
      expect(log).toContain("berth task: stopped; everything removed");
    }, 300_000);

    it("stops an ENI-mode task straight after its agent was killed, removing the veth pair too", async () => {
      const before = eniLinks();
      const third = randomInt(1, 255);
      const { id, record } = await runDetached("--eni", `10.233.${third}.2/24@10.233.${third}.1`);
      expect(record.runtime?.eniHostInterface).toMatch(/^bh[0-9a-f]{8}$/);
      expect(eniLinks().has(record.runtime?.eniHostInterface ?? "")).toBe(true);
      await killAgent(record);

      const stopped = await taskCli("stop", id, "--state-dir", dir);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stdout.trim()).toBe(`stopped ${id}`);
      expect(stopped.stderr).toContain(`the agent of task ${id} (pid ${record.pid}) is gone: re-attaching to stop it`);
      // Only this task's pair counts: another test file may run an ENI task at the same time.
      const suffix = record.runtime?.eniHostInterface?.slice(2) ?? "";
      expect([...eniLinks()].filter((n) => !before.has(n) && n.slice(2) === suffix)).toEqual([]);
      await expectNothingLeft(id);
    }, 300_000);

    it("reads a pipe-stdio container's output again and re-runs its health check after re-attaching", async () => {
      const file = join(dir, "ticker.json");
      writeFileSync(
        file,
        JSON.stringify({
          family: "berth-ticker",
          networkMode: "awsvpc",
          containerDefinitions: [
            {
              name: "ticker",
              image: "docker.io/library/busybox-test:latest",
              essential: true,
              command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"],
              healthCheck: { command: ["CMD-SHELL", "test -d /"], interval: 5, timeout: 2, retries: 1 },
            },
          ],
        }),
      );
      const { id, record } = await runDetached("--bridge", bridge, "--subnet", subnet, "--file", file);
      const log = () => readFileSync(join(dir, "logs", `${id}.log`), "utf8");
      await waitFor("the first ticks and a health check", () => log().includes("berth task: ticker is HEALTHY"));
      // The agent records health changes, so a re-attach serves the health it knew.
      await waitFor("the health in the record", async () => {
        const r = await readTaskRecord(dir, id);
        const c = r.ok ? r.value?.runtime?.metadata.task.containers.find((x) => x.name === "ticker") : undefined;
        return c?.health?.status === "HEALTHY";
      });
      await killAgent(record);
      const lastBefore = Math.max(...[...log().matchAll(/\[ticker\] tick (\d+)/g)].map((m) => Number(m[1])));
      await new Promise((r) => setTimeout(r, 1000));

      const attached = await taskCli("attach", id, "--detach", "--state-dir", dir);
      expect(attached.code, attached.stderr).toBe(0);
      const after = (await readTaskRecord(dir, id)) as { ok: true; value: TaskRecord };
      agents.add(after.value.pid);
      // Ticks written while no agent ran waited in the FIFO; later ones stream to the new agent.
      await waitFor("ticks after the re-attach", () => log().includes(`[ticker] tick ${lastBefore + 20}\n`));
      const ticks = [...log().matchAll(/\[ticker\] tick (\d+)/g)].map((m) => Number(m[1]));
      for (let n = 0; n <= lastBefore + 20; n++) expect(ticks).toContain(n);
      // The new agent runs the health check again.
      const sinceAttach = () => log().slice(log().indexOf("berth task: found ticker: running"));
      await waitFor("the health check after the re-attach", () => sinceAttach().includes("ticker is HEALTHY"));

      const stopped = await taskCli("stop", id, "--state-dir", dir);
      expect(stopped.code, stopped.stderr).toBe(0);
      await expectNothingLeft(id);
    }, 300_000);

    it("stops, best effort, a task whose containers, containerd namespace and netns vanished meanwhile", async () => {
      const { id, record } = await runDetached("--bridge", bridge, "--subnet", subnet);
      await killAgent(record);
      // As after a reboot: the containers, their containerd namespace and the network namespace are gone.
      await wipeNamespace(client, daemon.snapshotter);
      execFileSync("ip", ["netns", "delete", `berth-${id}`]);
      const ipam = join(dir, "ipam", `berth-${bridge}`);
      expect(readdirSync(ipam)).toContain(record.ip);

      const stopped = await taskCli("stop", id, "--state-dir", dir);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stdout.trim()).toBe(`stopped ${id}`);
      expect(stopped.stderr).toContain("berth task: found app: missing");
      expect(stopped.stderr).toContain("berth task: note: app is gone from containerd while no agent ran");
      expect(stopped.stderr).toContain("berth task: stopping: essential container app is gone from containerd");
      // CNI DEL ran without the namespace: the address went back to the pool.
      expect(readdirSync(ipam)).not.toContain(record.ip);
      await expectNothingLeft(id);
    }, 300_000);

    it("cleans up on attach a task whose essential container exited while no agent ran", async () => {
      const { id, record } = await runDetached("--bridge", bridge, "--subnet", subnet);
      await killAgent(record);
      const appId = `${id}-app`;
      const exited = client.tasks.wait(appId);
      (await client.tasks.kill(appId, "SIGKILL", { all: true }))._unsafeUnwrap();
      expect((await exited)._unsafeUnwrap().exitStatus).toBe(137);

      const attached = await taskCli("attach", id, "--state-dir", dir);
      expect(attached.code, attached.stderr).toBe(0);
      expect(attached.stderr).toContain("berth task: note: app exited with 137 while no agent ran");
      expect(attached.stderr).toContain(
        "berth task: stopping: essential container app exited with 137 while no agent ran",
      );
      expect(attached.stderr).toContain("berth task: stopped; everything removed");
      await expectNothingLeft(id);
      expect((await taskCli("ls", "--state-dir", dir)).stdout.trim()).toBe("ID  FAMILY  IP  AGENT  STARTED");
    }, 300_000);
  },
);
