// A Kubernetes Pod runs through the agent's task model on each containerd of the stack: examples/tasks/pod.json's
// init container runs to completion first, then the app container serves on the task's address; stopping leaves
// nothing behind. A failing init container keeps the app from starting.
import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Containerd } from "@berth/containerd";
import { HOW_TO_RUN, stack } from "@berth/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ociLayoutImages } from "../src/agent/images.js";
import { parseTaskFile, taskDefinitionFromPod } from "../src/agent/pod-spec.js";
import { type AgentOptions, type AgentTask, runTask } from "../src/agent/run-task.js";
import { closeWorld, openWorld, quiet, ROOT } from "./agent-fixture.js";

const s = stack();
if (!s) console.warn(`Pod agent integration tests skipped: ${HOW_TO_RUN}`);

describe.skipIf(!s?.testImageLayout).each(s?.daemons ?? [])(`reference agent: a Kubernetes Pod on $name`, (daemon) => {
  let client: Containerd;
  let dir: string;
  let bridge: string;
  let subnet: string;
  let task: AgentTask | undefined;

  beforeEach(() => {
    ({ client, dir, bridge, subnet } = openWorld({
      address: daemon.address,
      name: "pod",
      bridgePrefix: "bp",
      subnetOctet: 234,
    }));
    task = undefined;
  });

  afterEach(async () => {
    if (task) await task.stop({ graceMs: 1000 });
    await closeWorld({ client, dir, bridge, subnet }, daemon.snapshotter);
  });

  const options = (events: string[], output: Record<string, string>): AgentOptions => ({
    containerd: client,
    cniPath: s?.cniPath ?? "",
    images: ociLayoutImages(s?.testImageLayout ?? ""),
    bridge,
    subnet,
    stateDir: dir,
    snapshotter: daemon.snapshotter,
    stopGraceMs: 1000,
    onOutput: (name, _stream, chunk) => {
      output[name] = (output[name] ?? "") + chunk.toString("utf8");
    },
    onEvent: (e) => {
      if (e.kind === "started") events.push(`started ${e.container}`);
      if (e.kind === "exited") events.push(`exited ${e.container} ${e.exitCode}`);
      if (e.kind === "network") events.push(`network ${e.netns}`);
    },
  });

  it("runs examples/tasks/pod.json: the init container first, then the app, and stops leaving nothing", async () => {
    const def = parseTaskFile(readFileSync(join(ROOT, "examples/tasks/pod.json"), "utf8"));
    if (!def.ok) throw def.error;
    const events: string[] = [];
    const output: Record<string, string> = {};
    const started = await runTask(def.value, options(events, output));
    if (!started.ok) throw started.error;
    task = started.value;
    const t = task;
    const [network, ...rest] = events;
    expect(network).toBe(`network ${t.netnsPath}`);
    // The init container ran to completion (exit 0) before the app container was even created.
    expect(rest.slice(0, 3)).toEqual(["started init", "exited init 0", "started app"]);
    expect(output.init).toBe("init ran for berth-pod\n");

    // The app runs with its Pod-derived environment ($(VAR) expanded) and is reachable on the task's address.
    let page = "";
    for (let i = 0; i < 50 && page === ""; i++) {
      page = await fetch(`http://${t.ip}:8080/`)
        .then((r) => (r.ok ? r.text() : ""))
        .catch(() => "");
      if (page === "") await new Promise((r) => setTimeout(r, 100));
    }
    expect(page).toBe("hello from berth-pod in demo\n");
    expect(output.app).toContain("app up");
    const app = t.containers.find((c) => c.name === "app");
    expect((await client.tasks.get(app?.id ?? ""))._unsafeUnwrap().status).toBe("running");
    // resources.requests.cpu 250m -> 256 shares; limits.memory 64Mi -> the container's memory limit.
    const spec = (await client.containers.get(app?.id ?? ""))._unsafeUnwrap().spec as {
      linux?: { resources?: { cpu?: { shares?: number }; memory?: { limit?: number } } };
    };
    expect(spec.linux?.resources?.cpu?.shares).toBe(256);
    expect(spec.linux?.resources?.memory?.limit).toBe(64 * 1024 * 1024);

    const stopped = await t.stop({ graceMs: 1000 });
    task = undefined;
    if (!stopped.ok) throw stopped.error;
    expect(existsSync(t.netnsPath)).toBe(false);
    expect(existsSync(join("/etc/netns", `berth-${t.id}`))).toBe(false);
    expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
    expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
    expect((await client.tasks.list())._unsafeUnwrap()).toEqual([]);
    expect((await client.leases.list())._unsafeUnwrap()).toEqual([]);
    const snaps = (await client.snapshots(daemon.snapshotter).list())._unsafeUnwrap();
    expect(snaps.filter((x) => x.name.startsWith(t.id))).toEqual([]);
    expect(existsSync(join(dir, "tasks", t.id))).toBe(false);
  });

  it("shares an emptyDir volume: the init container writes it, the app reads it (read-only)", async () => {
    const image = s?.testImageRef ?? "docker.io/library/busybox-test:latest";
    const def = taskDefinitionFromPod({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "berth-pod-volume" },
      spec: {
        restartPolicy: "Never",
        volumes: [{ name: "shared", emptyDir: {} }],
        initContainers: [
          {
            name: "writer",
            image,
            command: ["sh", "-c", "echo written by the init container > /work/msg"],
            volumeMounts: [{ name: "shared", mountPath: "/work" }],
          },
        ],
        containers: [
          {
            name: "reader",
            image,
            command: ["sh", "-c", "cat /work/msg; touch /work/nope 2>/dev/null || echo read-only; exec sleep 60"],
            volumeMounts: [{ name: "shared", mountPath: "/work", readOnly: true }],
          },
        ],
      },
    });
    if (!def.ok) throw def.error;
    const output: Record<string, string> = {};
    const started = await runTask(def.value, options([], output));
    if (!started.ok) throw started.error;
    task = started.value;
    const t = task;
    for (let i = 0; i < 50 && !(output.reader ?? "").includes("read-only"); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(output.reader).toBe("written by the init container\nread-only\n");
    const stopped = await t.stop({ graceMs: 500 });
    task = undefined;
    if (!stopped.ok) throw stopped.error;
    expect(existsSync(join(dir, "tasks", t.id))).toBe(false);
    expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
  });

  it("`pnpm berth task run POD.json` converts the Pod, runs it and exits when its app container exits", async () => {
    const image = s?.testImageRef ?? "docker.io/library/busybox-test:latest";
    const file = join(dir, "pod.json");
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "berth-pod-cli" },
        spec: {
          restartPolicy: "Never",
          initContainers: [{ name: "setup", image, command: ["echo", "setup done"] }],
          containers: [
            {
              name: "once",
              image,
              command: ["sh", "-c"],
              args: ["echo once in $(POD)"],
              env: [{ name: "POD", value: "the pod" }],
            },
          ],
        },
      }),
    );
    const args = ["--import", "tsx", "--conditions=@berth/source", "examples/src/cli/main.ts", "task", "run", file];
    args.push("--address", daemon.address, "--namespace", client.namespace, "--bridge", bridge, "--subnet", subnet);
    args.push("--state-dir", dir, "--image-layout", s?.testImageLayout ?? "", "--cni-path", s?.cniPath ?? "");
    args.push("--snapshotter", daemon.snapshotter, "--grace-ms", "1000");
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(process.execPath, args, { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) =>
        done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(code, stderr).toBe(0);
    expect(stdout).toContain("[setup] setup done\n[once] once in the pod\n");
    expect(stderr).toContain("setup exited with 0");
    expect(stderr).toContain("stopping: essential container once exited with 0");
    const netns = /network: (\S+),/.exec(stderr)?.[1] ?? "";
    expect(netns).not.toBe("");
    expect(existsSync(netns)).toBe(false);
    expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
  });

  it("does not start the app when an init container fails (restartPolicy OnFailure restarts nothing)", async () => {
    const image = s?.testImageRef ?? "docker.io/library/busybox-test:latest";
    const def = taskDefinitionFromPod({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "berth-pod-fail" },
      spec: {
        restartPolicy: "OnFailure",
        initContainers: [
          { name: "ok", image, command: ["true"] },
          { name: "broken", image, command: ["sh", "-c", "exit 4"] },
        ],
        containers: [{ name: "app", image, command: ["sleep", "60"] }],
      },
    });
    if (!def.ok) throw def.error;
    const events: string[] = [];
    const started = await runTask(def.value, options(events, {}));
    expect(started.ok).toBe(false);
    if (started.ok) {
      task = started.value;
      return;
    }
    expect(started.error.code).toBe("DependencyFailed");
    expect(started.error.message).toContain("broken");
    expect(started.error.message).toContain("exited with 4");
    expect(events.slice(1)).toEqual(["started ok", "exited ok 0", "started broken", "exited broken 4"]);
    expect(events.some((e) => e.includes("app"))).toBe(false);
    expect(existsSync((events[0] ?? "").replace("network ", ""))).toBe(false);
    expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
    expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
  });
});
