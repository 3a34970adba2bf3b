import { randomInt } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Containerd } from "@berth/containerd";
import { startBerthLoggerServer } from "@berth/log-shim";
import { stack } from "@berth/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ociLayoutImages, registryImages } from "../src/agent/images.js";
import { type AgentTask, runTask } from "../src/agent/run-task.js";
import { fileSecrets } from "../src/agent/secrets.js";
import { parseTaskDefinition } from "../src/agent/task-definition.js";
import { closeWorld, LOGGER, openWorld, quiet, ROOT } from "./agent-fixture.js";

const s = stack();

describe.skipIf(!s?.testImageLayout || !existsSync(LOGGER)).each(s?.daemons ?? [])(
  "reference agent: sample task on $name",
  (daemon) => {
    let client: Containerd;
    let dir: string;
    let bridge: string;
    let subnet: string;
    let task: AgentTask | undefined;

    beforeEach(() => {
      ({ client, dir, bridge, subnet } = openWorld({
        address: daemon.address,
        name: "agent",
        bridgePrefix: "ba",
        subnetOctet: 232,
      }));
      task = undefined;
    });

    afterEach(async () => {
      if (task) await task.stop({ graceMs: 1000 });
      await closeWorld({ client, dir, bridge, subnet }, daemon.snapshotter);
    });

    it("runs the app and the sidecar, serves metadata, and stops leaving nothing behind", async () => {
      const def = parseTaskDefinition(readFileSync(join(ROOT, "examples/tasks/sample.json"), "utf8"));
      if (!def.ok) throw def.error;
      const output: Record<string, string> = {};
      const events: string[] = [];
      // The app's json-file log goes through a resident berth-logger in this process (the ENI test below runs the
      // standalone one).
      const loggerServer = (await startBerthLoggerServer({ socketPath: join(dir, "logger.sock") }))._unsafeUnwrap();
      try {
        const started = await runTask(def.value, {
          containerd: client,
          cniPath: s?.cniPath ?? "",
          images: ociLayoutImages(s?.testImageLayout ?? ""),
          bridge,
          subnet,
          stateDir: dir,
          snapshotter: daemon.snapshotter,
          loggerBinary: LOGGER,
          loggerServer: loggerServer.socketPath,
          onOutput: (name, _stream, chunk) => {
            output[name] = (output[name] ?? "") + chunk.toString("utf8");
          },
          onEvent: (e) =>
            events.push(e.kind === "started" || e.kind === "exited" ? `${e.kind} ${e.container}` : e.kind),
        });
        if (!started.ok) throw started.error;
        task = started.value;
        const t = task;
        expect(t.ip.startsWith(subnet.slice(0, subnet.lastIndexOf(".")))).toBe(true);
        expect(events.slice(0, 5)).toEqual(["network", "images", "metadata", "started app", "started sidecar"]);

        // The sidecar (non-essential) reads its own task metadata and the app's page over the task's network.
        const sidecar = t.containers.find((c) => c.name === "sidecar");
        expect(await sidecar?.exited).toBe(0);
        const printed = output.sidecar ?? "";
        expect(printed).toContain(`"TaskARN":"${t.arn}"`);
        expect(printed).toContain(`"IPv4Addresses":["${t.ip}"]`);
        expect(printed).toContain("app: hello from the berth sample app");

        // The app is reachable from the host on the task's IP; its log goes to the json-file.
        const page = await fetch(`http://${t.ip}:8080/`).then((r) => r.text());
        expect(page).toBe("hello from the berth sample app\n");
        const app = t.containers.find((c) => c.name === "app");
        // httpd -v logs each request to stderr, which berth-logger writes as json-file lines.
        const logPath = app?.logPath ?? "";
        let log = "";
        for (let i = 0; i < 50 && !log.includes("response:200"); i++) {
          await new Promise((r) => setTimeout(r, 100));
          log = existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
        }
        const line = log.split("\n").find((l) => l.includes("response:200")) ?? "{}";
        expect(JSON.parse(line)).toMatchObject({ stream: "stderr", log: expect.stringContaining("response:200") });
        expect(loggerServer.served).toBe(1);

        // The sidecar's exit did not stop the task: the app still runs.
        expect((await client.tasks.get(app?.id ?? ""))._unsafeUnwrap().status).toBe("running");

        const netnsPath = t.netnsPath;
        const stopped = await t.stop({ graceMs: 2000 });
        task = undefined;
        if (!stopped.ok) throw stopped.error;
        expect(await t.done).toBe("stopped");

        expect(existsSync(netnsPath)).toBe(false);
        expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
        expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
        expect((await client.tasks.list())._unsafeUnwrap()).toEqual([]);
        expect((await client.leases.list())._unsafeUnwrap()).toEqual([]);
        const snaps = (await client.snapshots(daemon.snapshotter).list())._unsafeUnwrap();
        expect(snaps.filter((x) => x.name.startsWith(t.id))).toEqual([]);
        const cache = join(dir, "cni-cache");
        const cached = existsSync(cache) ? readdirSync(cache, { recursive: true }).map(String) : [];
        expect(cached.filter((f) => f.includes(t.id))).toEqual([]);
        expect(existsSync(join("/etc/netns", `berth-${t.id}`))).toBe(false);
        // The app's logger finished with its container.
        expect(loggerServer.sessions).toBe(0);
      } finally {
        await loggerServer.close();
      }
    });

    it("runs the sample in ENI mode (veth end moved in by host-device, static IPAM) and removes the pair", async () => {
      const def = parseTaskDefinition(readFileSync(join(ROOT, "examples/tasks/sample.json"), "utf8"));
      if (!def.ok) throw def.error;
      const links = () =>
        new Set(
          quiet("ip", ["-o", "link", "show"])
            .split("\n")
            .map((l) => /^\d+: (b[he][0-9a-f]{8})[@:]/.exec(l)?.[1])
            .filter((n): n is string => n !== undefined),
        );
      const before = links();
      const third = randomInt(1, 255);
      let output = "";
      const started = await runTask(def.value, {
        containerd: client,
        cniPath: s?.cniPath ?? "",
        images: ociLayoutImages(s?.testImageLayout ?? ""),
        eni: { address: `10.233.${third}.2/24`, gateway: `10.233.${third}.1` },
        stateDir: dir,
        snapshotter: daemon.snapshotter,
        loggerBinary: LOGGER,
        stopGraceMs: 1000,
        onOutput: (name, _stream, chunk) => {
          if (name === "sidecar") output += chunk.toString("utf8");
        },
      });
      if (!started.ok) throw started.error;
      task = started.value;
      const t = task;
      expect(t.ip).toBe(`10.233.${third}.2`);
      // Only this task's pair counts: another test file may run an ENI task at the same time.
      const eniHost = t.runtime().eniHostInterface ?? "";
      expect(eniHost).toMatch(/^bh[0-9a-f]{8}$/);
      const own = () => [...links()].filter((n) => !before.has(n) && n.slice(2) === eniHost.slice(2));
      expect(own()).toEqual([eniHost]);
      expect(await t.containers.find((c) => c.name === "sidecar")?.exited).toBe(0);
      expect(output).toContain(`"TaskARN":"${t.arn}"`);
      expect(output).toContain(`"IPv4SubnetCIDRBlock":"10.233.${third}.0/24"`);
      expect(output).toContain("app: hello from the berth sample app");
      expect(await fetch(`http://${t.ip}:8080/`).then((r) => r.text())).toBe("hello from the berth sample app\n");
      const stopped = await t.stop({ graceMs: 1000 });
      task = undefined;
      if (!stopped.ok) throw stopped.error;
      expect(existsSync(t.netnsPath)).toBe(false);
      expect(own()).toEqual([]);
      expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
    });

    const IMAGE = "docker.io/library/busybox-test:latest";
    const options = () => ({
      containerd: client,
      cniPath: s?.cniPath ?? "",
      images: ociLayoutImages(s?.testImageLayout ?? ""),
      bridge,
      subnet,
      stateDir: dir,
      snapshotter: daemon.snapshotter,
      stopGraceMs: 1000,
    });

    it("starts a container only after its SUCCESS dependency exited 0", async () => {
      const def = parseTaskDefinition(
        JSON.stringify({
          family: "berth-order",
          containerDefinitions: [
            { name: "init", image: IMAGE, essential: false, command: ["sh", "-c", "sleep 0.5; exit 0"] },
            {
              name: "main",
              image: IMAGE,
              command: ["sh", "-c", "echo token=$TOKEN; exec sleep 60"],
              secrets: [{ name: "TOKEN", valueFrom: "token" }],
              dependsOn: [{ containerName: "init", condition: "SUCCESS" }],
            },
          ],
        }),
      );
      if (!def.ok) throw def.error;
      const events: string[] = [];
      const secretsDir = join(dir, "secrets");
      mkdirSync(secretsDir);
      writeFileSync(join(secretsDir, "token"), "s3cret\n");
      let output = "";
      const started = await runTask(def.value, {
        ...options(),
        secrets: fileSecrets(secretsDir),
        onOutput: (_name, _stream, chunk) => {
          output += chunk.toString("utf8");
        },
        onEvent: (e) => {
          if (e.kind === "started" || e.kind === "exited") events.push(`${e.kind} ${e.container}`);
        },
      });
      if (!started.ok) throw started.error;
      task = started.value;
      expect(events).toEqual(["started init", "exited init", "started main"]);
      for (let i = 0; i < 50 && !output.includes("token="); i++) await new Promise((r) => setTimeout(r, 100));
      expect(output).toContain("token=s3cret\n");
      const stopped = await task.stop();
      task = undefined;
      expect(stopped.ok).toBe(true);
    });

    it("fails with DependencyFailed when a SUCCESS dependency exits non-zero, removing what it made", async () => {
      const def = parseTaskDefinition(
        JSON.stringify({
          family: "berth-depfail",
          containerDefinitions: [
            { name: "init", image: IMAGE, essential: false, command: ["sh", "-c", "exit 7"] },
            { name: "main", image: IMAGE, dependsOn: [{ containerName: "init", condition: "SUCCESS" }] },
          ],
        }),
      );
      if (!def.ok) throw def.error;
      const events: string[] = [];
      const started = await runTask(def.value, {
        ...options(),
        onEvent: (e) => {
          if (e.kind === "network") events.push(e.netns);
        },
      });
      expect(started.ok).toBe(false);
      if (started.ok) return;
      expect(started.error.code).toBe("DependencyFailed");
      expect(started.error.message).toContain("exited with 7");
      expect(events).toHaveLength(1);
      expect(existsSync(events[0] ?? "")).toBe(false);
      expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
      expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
    });

    it("fails with ImageFailed for an image it cannot get, removing the namespace and CNI attachment", async () => {
      const def = parseTaskDefinition(
        JSON.stringify({
          family: "berth-noimage",
          containerDefinitions: [{ name: "a", image: "example.invalid/x:1" }],
        }),
      );
      if (!def.ok) throw def.error;
      let netns = "";
      const started = await runTask(def.value, {
        ...options(),
        onEvent: (e) => {
          if (e.kind === "network") netns = e.netns;
        },
      });
      expect(!started.ok && started.error.code).toBe("ImageFailed");
      expect(netns).not.toBe("");
      expect(existsSync(netns)).toBe(false);
      expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
    });

    it("pulls a missing image from the registry into containerd (registryImages)", async () => {
      const remote = s?.env.TEST_IMAGE_REMOTE ?? `${s?.registry}/berth/busybox:latest`;
      const def = parseTaskDefinition(
        JSON.stringify({
          family: "berth-pull",
          containerDefinitions: [{ name: "once", image: remote, command: ["echo", "pulled and ran"] }],
        }),
      );
      if (!def.ok) throw def.error;
      let output = "";
      const pulls: string[] = [];
      const started = await runTask(def.value, {
        ...options(),
        images: registryImages({ plainHttp: [s?.registry ?? ""] }),
        onOutput: (_name, _stream, chunk) => {
          output += chunk.toString("utf8");
        },
        onEvent: (e) => {
          if (e.kind !== "pull") return;
          expect(e.image).toBe(remote);
          const p = e.progress;
          if (p.type === "blob" && (p.state === "done" || p.state === "exists")) pulls.push(`blob ${p.digest}`);
          if (p.type === "unpack" && (p.state === "unpacked" || p.state === "exists")) pulls.push(`unpack ${p.digest}`);
          if (p.type === "phase") pulls.push(`phase ${p.phase}`);
        },
      });
      if (!started.ok) throw started.error;
      task = started.value;
      const t = task;
      expect(await t.done).toBe("essential container once exited with 0");
      task = undefined;
      const stopped = await t.stop();
      if (!stopped.ok) throw stopped.error;
      expect(output).toBe("pulled and ran\n");
      // Per-layer progress reached the agent's events: every layer fetched (or found) and unpacked, phases in order.
      const image = (await client.images.get(remote))._unsafeUnwrap();
      const manifest = JSON.parse(
        (await client.content.readAll(image.target.digest))._unsafeUnwrap().toString("utf8"),
      ) as { layers?: { digest: string }[] };
      const layers = (manifest.layers ?? []).map((l) => l.digest);
      expect(layers.length).toBeGreaterThan(0);
      for (const digest of layers) {
        expect(pulls).toContain(`blob ${digest}`);
        expect(pulls).toContain(`unpack ${digest}`);
      }
      const phases = pulls.filter((x) => x.startsWith("phase "));
      expect(phases.indexOf("phase fetch")).toBeLessThan(phases.indexOf("phase done"));
      expect(phases).toContain("phase unpack");
      expect((await client.leases.list())._unsafeUnwrap()).toEqual([]);
      expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
    });

    it("stops the task when its essential container exits", async () => {
      const def = parseTaskDefinition(
        JSON.stringify({
          family: "berth-essential",
          containerDefinitions: [
            {
              name: "long",
              image: "docker.io/library/busybox-test:latest",
              essential: false,
              command: ["sleep", "60"],
            },
            {
              name: "short",
              image: "docker.io/library/busybox-test:latest",
              command: ["sh", "-c", "exit 3"],
              dependsOn: [{ containerName: "long", condition: "START" }],
            },
          ],
        }),
      );
      if (!def.ok) throw def.error;
      const started = await runTask(def.value, {
        containerd: client,
        cniPath: s?.cniPath ?? "",
        images: ociLayoutImages(s?.testImageLayout ?? ""),
        bridge,
        subnet,
        stateDir: dir,
        snapshotter: daemon.snapshotter,
        stopGraceMs: 1000,
      });
      if (!started.ok) throw started.error;
      task = started.value;
      const t = task;
      const reason = await t.done;
      task = undefined;
      expect(reason).toBe("essential container short exited with 3");
      // stop() after the task stopped by itself reports how that teardown went.
      const stopped = await t.stop();
      if (!stopped.ok) throw stopped.error;
      expect(existsSync(t.netnsPath)).toBe(false);
      expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
      expect(quiet("ip", ["-o", "link", "show", "master", bridge]).trim()).toBe("");
    });
  },
);
