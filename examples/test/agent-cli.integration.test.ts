// `pnpm berth task run examples/tasks/sample.json` in the foreground: progress and logs stream, Ctrl-C (SIGINT)
// stops the task and removes everything it made.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Containerd } from "@berth/containerd";
import { stack } from "@berth/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeWorld, openWorld, quiet, ROOT, taskCli } from "./agent-fixture.js";

const s = stack();
const daemon = s?.daemons[0];

describe.skipIf(!daemon || !s?.testImageLayout)("pnpm berth task run", () => {
  let client: Containerd;
  let dir: string;
  let bridge: string;
  let subnet: string;
  let child: ChildProcess | undefined;

  beforeEach(() => {
    ({ client, dir, bridge, subnet } = openWorld({
      address: daemon?.address ?? "",
      name: "agentcli",
      bridgePrefix: "bc",
      subnetOctet: 232,
    }));
  });

  afterEach(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGINT");
      await new Promise((r) => child?.once("exit", r));
    }
    await closeWorld({ client, dir, bridge, subnet }, daemon?.snapshotter);
  });

  /** `task run`'s options for this test's daemon, namespace, bridge, subnet, state directory and image layout. */
  const runOptions = (): string[] => [
    "--address",
    daemon?.address ?? "",
    "--namespace",
    client.namespace,
    "--bridge",
    bridge,
    "--subnet",
    subnet,
    "--state-dir",
    dir,
    "--image-layout",
    s?.testImageLayout ?? "",
    "--cni-path",
    s?.cniPath ?? "",
    "--grace-ms",
    "1000",
  ];

  it("streams progress and the sidecar's output, and Ctrl-C removes everything", async () => {
    const proc = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=@berth/source",
        "examples/src/cli/main.ts",
        "task",
        "run",
        "examples/tasks/sample.json",
        ...runOptions(),
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    let stdout = "";
    let stderr = "";
    proc.stdout?.on("data", (b: Buffer) => {
      stdout += b.toString("utf8");
    });
    proc.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString("utf8");
    });
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    const deadline = Date.now() + 60_000;
    while (!stdout.includes("[sidecar] app: hello from the berth sample app") && Date.now() < deadline) {
      if (proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stdout, stderr).toContain("[sidecar] app: hello from the berth sample app");
    expect(stdout).toMatch(/\[sidecar\] task: \{"Cluster":"berth","TaskARN":"arn:aws:ecs:local:000000000000:task\//);
    const ip = /address (\d+\.\d+\.\d+\.\d+)/.exec(stderr)?.[1];
    const netns = /network: (\S+),/.exec(stderr)?.[1] ?? "";
    expect(ip).toBeDefined();
    expect(existsSync(netns)).toBe(true);
    expect(await fetch(`http://${ip}:8080/`).then((r) => r.text())).toBe("hello from the berth sample app\n");

    proc.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(stderr).toContain("berth task: stopping: interrupted");
    expect(stderr).toContain("berth task: stopped; everything removed");
    expect(existsSync(netns)).toBe(false);
    expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
    expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
    expect((await client.tasks.list())._unsafeUnwrap()).toEqual([]);
  });

  it("runs a task detached, lists it and stops it by id", async () => {
    const started = await taskCli("run", "examples/tasks/sample.json", "--detach", ...runOptions());
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^berth-sample-[0-9a-f]{8}$/);
    try {
      const listed = await taskCli("ls", "--state-dir", dir);
      expect(listed.code).toBe(0);
      const row = listed.stdout.split("\n").find((l) => l.startsWith(id)) ?? "";
      expect(row).toMatch(/berth-sample +10\.232\.\d+\.\d+ +pid \d+/);
      const ip = /(10\.232\.\d+\.\d+)/.exec(row)?.[1];
      expect(await fetch(`http://${ip}:8080/`).then((r) => r.text())).toBe("hello from the berth sample app\n");
      expect(existsSync(`/run/netns/berth-${id}`)).toBe(true);
      const sidecarLogs = await taskCli("logs", id, "sidecar", "--state-dir", dir);
      expect(sidecarLogs.stdout).toContain("app: hello from the berth sample app\n");
      let appLogs = await taskCli("logs", id, "app", "--state-dir", dir);
      for (let i = 0; i < 30 && !appLogs.stderr.includes("response:200"); i++) {
        await new Promise((r) => setTimeout(r, 100));
        appLogs = await taskCli("logs", id, "app", "--state-dir", dir);
      }
      expect(appLogs.stderr).toContain("response:200");
      // A task whose agent runs is not re-attached (see agent-reattach.integration.test.ts for the rest).
      const refused = await taskCli("attach", id, "--state-dir", dir);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`berth: task ${id} still has its agent (pid `);
    } finally {
      const stopped = await taskCli("stop", id, "--state-dir", dir);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stdout.trim()).toBe(`stopped ${id}`);
    }
    expect((await taskCli("ls", "--state-dir", dir)).stdout.trim()).toBe("ID  FAMILY  IP  AGENT  STARTED");
    expect(existsSync(`/run/netns/berth-${id}`)).toBe(false);
    expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
    expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
    const log = readFileSync(join(dir, "logs", `${id}.log`), "utf8");
    expect(log).toContain("[sidecar] app: hello from the berth sample app");
    expect(log).toContain("berth task: stopped; everything removed");
    expect((await taskCli("stop", id, "--state-dir", dir)).code).toBe(1);
  }, 300_000); // about ten CLI runs: slow on a loaded machine

  it("refuses an invalid task definition, naming the field", async () => {
    const out = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const p = spawn(
        process.execPath,
        ["--import", "tsx", "--conditions=@berth/source", "examples/src/cli/main.ts", "task", "run", "package.json"],
        { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
      );
      let stderr = "";
      p.stderr?.on("data", (b: Buffer) => {
        stderr += b.toString("utf8");
      });
      p.once("exit", (code) => done({ code, stderr }));
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("package.json: invalid task definition: family");
  });
});
