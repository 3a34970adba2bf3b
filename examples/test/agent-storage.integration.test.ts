// The reference agent's task storage, environment files and health checks, on each containerd of the stack:
// volumes shared through mountPoints and volumesFrom, a host sourcePath volume, a read-only root filesystem,
// `.env` files under `environment`, and dependsOn HEALTHY driven by health checks exec'd inside the container.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Containerd } from "@berth/containerd";
import { stack } from "@berth/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { localEnvironmentFiles } from "../src/agent/environment-files.js";
import { ociLayoutImages } from "../src/agent/images.js";
import { type AgentEvent, type AgentOptions, type AgentTask, runTask } from "../src/agent/run-task.js";
import { parseTaskDefinition } from "../src/agent/task-definition.js";
import { closeWorld, openWorld, quiet, ROOT } from "./agent-fixture.js";

const s = stack();
const IMAGE = "docker.io/library/busybox-test:latest";

function definition(value: unknown) {
  const def = parseTaskDefinition(JSON.stringify(value));
  if (!def.ok) throw def.error;
  return def.value;
}

describe.skipIf(!s?.testImageLayout).each(s?.daemons ?? [])(
  "reference agent: storage and health on $name",
  (daemon) => {
    let client: Containerd;
    let dir: string;
    let bridge: string;
    let subnet: string;
    let task: AgentTask | undefined;
    let output: Record<string, string>;
    let events: AgentEvent[];

    beforeEach(() => {
      ({ client, dir, bridge, subnet } = openWorld({
        address: daemon.address,
        name: "agent-storage",
        bridgePrefix: "bs",
        subnetOctet: 234,
      }));
      task = undefined;
      output = {};
      events = [];
    });

    afterEach(async () => {
      if (task) await task.stop({ graceMs: 1000 });
      await closeWorld({ client, dir, bridge, subnet }, daemon.snapshotter);
    });

    const options = (): AgentOptions => ({
      containerd: client,
      cniPath: s?.cniPath ?? "",
      images: ociLayoutImages(s?.testImageLayout ?? ""),
      bridge,
      subnet,
      stateDir: join(dir, "state"),
      snapshotter: daemon.snapshotter,
      stopGraceMs: 1000,
      onOutput: (name, _stream, chunk) => {
        output[name] = (output[name] ?? "") + chunk.toString("utf8");
      },
      onEvent: (e) => events.push(e),
    });

    /** Nothing of the task is left: namespace, containers, tasks, leases, its snapshots, its directory, bridge ports. */
    async function expectNothingLeft(t: { id: string; netnsPath: string }): Promise<void> {
      expect(existsSync(t.netnsPath)).toBe(false);
      expect(existsSync(join(dir, "state", "tasks", t.id))).toBe(false);
      expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
      expect((await client.tasks.list())._unsafeUnwrap()).toEqual([]);
      expect((await client.leases.list())._unsafeUnwrap()).toEqual([]);
      const snaps = (await client.snapshots(daemon.snapshotter).list())._unsafeUnwrap();
      expect(snaps.filter((x) => x.name.startsWith(t.id))).toEqual([]);
      expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
    }

    it("shares volumes through mountPoints and volumesFrom, keeps / read-only, and removes task volumes on stop", async () => {
      const hostDir = join(dir, "host-volume");
      mkdirSync(hostDir);
      const def = definition({
        family: "berth-storage",
        volumes: [{ name: "shared" }, { name: "outside", host: { sourcePath: hostDir } }],
        containerDefinitions: [
          {
            name: "writer",
            image: IMAGE,
            essential: false,
            readonlyRootFilesystem: true,
            mountPoints: [
              { sourceVolume: "shared", containerPath: "/data" },
              { sourceVolume: "outside", containerPath: "/host" },
            ],
            command: [
              "sh",
              "-c",
              "echo written-by-writer > /data/note && echo on-the-host > /host/out && " +
                "if touch /rootfile 2>/dev/null; then echo ROOT=writable; else echo ROOT=readonly; fi",
            ],
          },
          {
            name: "reader",
            image: IMAGE,
            volumesFrom: [{ sourceContainer: "writer", readOnly: true }],
            dependsOn: [{ containerName: "writer", condition: "SUCCESS" }],
            command: [
              "sh",
              "-c",
              "echo NOTE=$(cat /data/note) HOST=$(cat /host/out); " +
                "if touch /data/other 2>/dev/null; then echo DATA=writable; else echo DATA=readonly; fi; " +
                "if touch /rootfile 2>/dev/null; then echo ROOT=writable; fi",
            ],
          },
        ],
      });
      const started = await runTask(def, options());
      if (!started.ok) throw started.error;
      task = started.value;
      const t = task;
      const volumeDir = join(dir, "state", "tasks", t.id, "volumes", "shared");
      expect(existsSync(volumeDir)).toBe(true);
      expect(await t.done).toBe("essential container reader exited with 0");
      task = undefined;
      const stopped = await t.stop();
      if (!stopped.ok) throw stopped.error;

      // The writer wrote to both volumes but not to its read-only root; the reader got the writer's mounts read-only.
      expect(output.writer).toBe("ROOT=readonly\n");
      expect(output.reader).toBe("NOTE=written-by-writer HOST=on-the-host\nDATA=readonly\nROOT=writable\n");
      // The task volume went with the task; the host volume is the host's and stays.
      expect(existsSync(volumeDir)).toBe(false);
      expect(readFileSync(join(hostDir, "out"), "utf8")).toBe("on-the-host\n");
      await expectNothingLeft(t);
    });

    it("refuses a host.sourcePath that does not exist before making anything", async () => {
      const def = definition({
        family: "berth-nosource",
        volumes: [{ name: "gone", host: { sourcePath: join(dir, "missing") } }],
        containerDefinitions: [
          { name: "a", image: IMAGE, mountPoints: [{ sourceVolume: "gone", containerPath: "/x" }] },
        ],
      });
      const started = await runTask(def, options());
      expect(started.ok).toBe(false);
      if (started.ok) return;
      expect(started.error.code).toBe("InvalidTaskDefinition");
      expect(started.error.field).toBe("volumes[0].host.sourcePath");
      expect(started.error.message).toMatch(/does not exist/);
      expect(events).toEqual([]);
      expect(readdirSync(join(dir, "state", "tasks"))).toEqual([]);
    });

    it("injects environment files under the container's environment (earlier files win)", async () => {
      const files = join(dir, "envfiles");
      mkdirSync(join(files, "my-bucket", "conf"), { recursive: true });
      writeFileSync(
        join(files, "my-bucket", "conf", "app.env"),
        "# settings for the app\n\nFROM_FILE=first file value\nOVERRIDDEN=from the file\n",
      );
      writeFileSync(join(files, "second.env"), "FROM_FILE=second file value\nONLY_SECOND=2\n");
      const def = definition({
        family: "berth-envfiles",
        containerDefinitions: [
          {
            name: "app",
            image: IMAGE,
            environment: [{ name: "OVERRIDDEN", value: "from environment" }],
            environmentFiles: [
              { value: "arn:aws:s3:::my-bucket/conf/app.env", type: "s3" },
              { value: "second.env", type: "s3" },
            ],
            command: ["sh", "-c", 'echo "A=$FROM_FILE|B=$OVERRIDDEN|C=$ONLY_SECOND"'],
          },
        ],
      });
      const started = await runTask(def, { ...options(), environmentFiles: localEnvironmentFiles(files) });
      if (!started.ok) throw started.error;
      task = started.value;
      const t = task;
      expect(await t.done).toBe("essential container app exited with 0");
      task = undefined;
      const stopped = await t.stop();
      if (!stopped.ok) throw stopped.error;
      expect(output.app).toBe("A=first file value|B=from environment|C=2\n");
      await expectNothingLeft(t);
    });

    it("`pnpm berth task run --env-files-dir DIR` resolves environmentFiles from DIR", async () => {
      const files = join(dir, "cli-envfiles");
      mkdirSync(join(files, "bucket"), { recursive: true });
      writeFileSync(join(files, "bucket", "app.env"), "GREETING=hello from a file\n");
      const file = join(dir, "task.json");
      writeFileSync(
        file,
        JSON.stringify({
          family: "berth-envfiles-cli",
          networkMode: "awsvpc",
          containerDefinitions: [
            {
              name: "app",
              image: IMAGE,
              environmentFiles: [{ value: "arn:aws:s3:::bucket/app.env", type: "s3" }],
              command: ["sh", "-c", 'echo "greeting=$GREETING"'],
            },
          ],
        }),
      );
      const args = ["--import", "tsx", "--conditions=@berth/source", "examples/src/cli/main.ts", "task", "run", file];
      args.push("--address", daemon.address, "--namespace", client.namespace, "--bridge", bridge, "--subnet", subnet);
      args.push("--state-dir", join(dir, "state"), "--image-layout", s?.testImageLayout ?? "");
      args.push("--cni-path", s?.cniPath ?? "", "--snapshotter", daemon.snapshotter, "--grace-ms", "1000");
      args.push("--env-files-dir", files);
      const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        execFile(process.execPath, args, { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) =>
          done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
      expect(code, stderr).toBe(0);
      expect(stdout).toContain("[app] greeting=hello from a file\n");
      expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
    });

    it("holds a HEALTHY dependent back until the health check passes, and reports Health in metadata", async () => {
      const def = definition({
        family: "berth-healthy",
        volumes: [{ name: "cache" }],
        containerDefinitions: [
          {
            name: "db",
            image: IMAGE,
            // Ready after 3 s; the first check runs after one interval (5 s), as Docker and ECS do.
            command: ["sh", "-c", "sleep 3; touch /tmp/ready; exec sleep 60"],
            mountPoints: [{ sourceVolume: "cache", containerPath: "/cache" }],
            healthCheck: { command: ["CMD-SHELL", "test -f /tmp/ready"], interval: 5, timeout: 2, retries: 2 },
          },
          {
            name: "app",
            image: IMAGE,
            dependsOn: [{ containerName: "db", condition: "HEALTHY" }],
            command: ["sh", "-c", "wget -qO- $ECS_CONTAINER_METADATA_URI_V4/task; echo; exec sleep 60"],
          },
        ],
      });
      const began = Date.now();
      const started = await runTask(def, options());
      if (!started.ok) throw started.error;
      task = started.value;
      const t = task;
      expect(Date.now() - began).toBeGreaterThanOrEqual(4500);
      const order = events.flatMap((e) =>
        e.kind === "started" ? [`started ${e.container}`] : e.kind === "health" ? [`${e.container} ${e.status}`] : [],
      );
      expect(order).toEqual(["started db", "db HEALTHY", "started app"]);
      expect(t.containers.find((c) => c.name === "db")?.health?.status).toBe("HEALTHY");
      expect(t.containers.find((c) => c.name === "app")?.health).toBeUndefined();
      for (let i = 0; i < 50 && !(output.app ?? "").includes("\n"); i++) await new Promise((r) => setTimeout(r, 100));
      const meta = JSON.parse(output.app ?? "{}") as {
        Containers?: { Name: string; Health?: { status?: string }; Volumes?: unknown[] }[];
      };
      const db = meta.Containers?.find((c) => c.Name === "db");
      expect(db?.Health?.status).toBe("HEALTHY");
      expect(db?.Volumes).toEqual([
        { DockerName: "cache", Source: join(dir, "state", "tasks", t.id, "volumes", "cache"), Destination: "/cache" },
      ]);
      expect(meta.Containers?.find((c) => c.Name === "app")?.Health).toBeUndefined();
      const stopped = await t.stop({ graceMs: 1000 });
      task = undefined;
      if (!stopped.ok) throw stopped.error;
      await expectNothingLeft(t);
    });

    it("keeps a task running when its essential container turns UNHEALTHY (as ECS), killing checks that time out", async () => {
      const def = definition({
        family: "berth-sick",
        containerDefinitions: [
          {
            name: "app",
            image: IMAGE,
            command: ["sleep", "60"],
            // The check hangs: after its 2 s timeout it is killed and counts as a failure (exit code -1).
            healthCheck: { command: ["CMD-SHELL", "sleep 30"], interval: 5, timeout: 2, retries: 1 },
          },
        ],
      });
      const started = await runTask(def, options());
      if (!started.ok) throw started.error;
      task = started.value;
      const t = task;
      const app = t.containers[0];
      for (let i = 0; i < 150 && app?.health?.status !== "UNHEALTHY"; i++) await new Promise((r) => setTimeout(r, 100));
      expect(app?.health).toMatchObject({ status: "UNHEALTHY", exitCode: -1 });
      // The task keeps running, and the killed check left no process behind in the container.
      const state = await Promise.race([t.done, new Promise((r) => setTimeout(() => r("running"), 500))]);
      expect(state).toBe("running");
      expect((await client.tasks.get(app?.id ?? ""))._unsafeUnwrap().status).toBe("running");
      expect((await client.tasks.pids(app?.id ?? ""))._unsafeUnwrap()).toEqual([app?.pid]);
      const stopped = await t.stop({ graceMs: 1000 });
      task = undefined;
      if (!stopped.ok) throw stopped.error;
      await expectNothingLeft(t);
    });

    it("fails the start with DependencyFailed when the health check fails, removing everything", async () => {
      const def = definition({
        family: "berth-unhealthy",
        containerDefinitions: [
          {
            name: "db",
            image: IMAGE,
            command: ["sleep", "60"],
            healthCheck: { command: ["CMD", "/bin/false"], interval: 5, retries: 1 },
          },
          { name: "app", image: IMAGE, dependsOn: [{ containerName: "db", condition: "HEALTHY" }] },
        ],
      });
      const started = await runTask(def, options());
      expect(started.ok).toBe(false);
      if (started.ok) return;
      expect(started.error.code).toBe("DependencyFailed");
      expect(started.error.message).toBe(
        "app needs db to be HEALTHY, but db became UNHEALTHY: its health check failed 1 time(s) in a row (last exit code 1)",
      );
      const kinds = events.map((e) => (e.kind === "health" ? `${e.container} ${e.status}` : e.kind));
      expect(kinds).toContain("db UNHEALTHY");
      expect(kinds).not.toContain("started app");
      const network = events.find((e) => e.kind === "network");
      expect(network?.kind === "network" && existsSync(network.netns)).toBe(false);
      expect(readdirSync(join(dir, "state", "tasks"))).toEqual([]);
      expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
      expect((await client.tasks.list())._unsafeUnwrap()).toEqual([]);
      expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
    });
  },
);
