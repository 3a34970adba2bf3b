// Running containers on the real containerd 1.6 and 2.1 of the stack: stdio through FIFOs, exit
// codes, signals, exec, events, metrics, log URIs, a pre-made network namespace, concurrency and
// tagged errors. The test image is imported through berth (importImage) into a fresh namespace;
// the last test proves the namespace is empty after teardown.
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { stack, uniqueName } from "@berth/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Containerd,
  type ContainerdEvent,
  createContainerd,
  createFifoIO,
  type RunningContainer,
  type RunOptions,
  runContainer,
} from "../src/index.js";
import { eventually, expectEmpty, setUpNamespace, TEST_IMAGE, tearDownNamespace, unwrap } from "./helpers.js";

const s = stack();

function stream(r: Readable | undefined): Readable {
  if (!r) throw new Error("expected a stdio stream");
  return r;
}

describe.skipIf(!s).each(s?.daemons ?? [])("running containers on $name", (daemon) => {
  let client: Containerd;
  let scratch: string;

  beforeAll(async () => {
    const env = s?.env ?? {};
    client = await setUpNamespace(daemon, env.TEST_IMAGE_ARCHIVE ?? env.TEST_IMAGE_LAYOUT ?? "");
    scratch = await mkdtemp(join(tmpdir(), "berth-ctd-test-"));
  }, 120_000);

  afterAll(async () => {
    if (!client) return;
    await tearDownNamespace(client, daemon.snapshotter);
    await client.namespaces.delete(client.namespace);
    await client.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }, 120_000);

  /** Runs the test image, always removing the container afterwards. */
  async function withContainer<T>(
    options: Omit<RunOptions, "image">,
    body: (c: RunningContainer) => Promise<T>,
  ): Promise<T> {
    const started = await runContainer(client, { image: TEST_IMAGE, snapshotter: daemon.snapshotter, ...options });
    if (started.isErr()) throw started.error;
    let result: T;
    try {
      result = await body(started.value);
    } catch (e) {
      await started.value.remove();
      throw e;
    }
    // A failed teardown fails the test.
    unwrap(await started.value.remove());
    return result;
  }

  it("captures stdout of echo and exit code 0", async () => {
    await withContainer({ args: ["echo", "hello from berth"] }, async (c) => {
      const [out, exit] = await Promise.all([text(stream(c.io?.stdout)), c.exited]);
      expect(out).toBe("hello from berth\n");
      expect(exit._unsafeUnwrap().exitStatus).toBe(0);
    });
  });

  it("returns exit code 7 and keeps stderr separate from stdout", async () => {
    await withContainer({ args: ["sh", "-c", "echo out; echo err >&2; exit 7"] }, async (c) => {
      const [out, errText, exit] = await Promise.all([
        text(stream(c.io?.stdout)),
        text(stream(c.io?.stderr)),
        c.exited,
      ]);
      expect(out).toBe("out\n");
      expect(errText).toBe("err\n");
      expect(exit._unsafeUnwrap().exitStatus).toBe(7);
    });
  });

  it("loses no output of a fast-exiting process (64 KiB, more than a pipe buffer)", async () => {
    await withContainer({ args: ["sh", "-c", "head -c 65536 /dev/zero | tr '\\0' x"] }, async (c) => {
      const [out, exit] = await Promise.all([text(stream(c.io?.stdout)), c.exited]);
      expect(out.length).toBe(65536);
      expect(exit._unsafeUnwrap().exitStatus).toBe(0);
    });
  });

  it("pipes stdin to cat", async () => {
    await withContainer({ args: ["cat"], stdio: { kind: "pipe", stdin: true } }, async (c) => {
      const out = text(stream(c.io?.stdout));
      c.io?.stdin?.end("line one\nline two\n");
      expect(await out).toBe("line one\nline two\n");
      expect(unwrap(await c.exited).exitStatus).toBe(0);
    });
  });

  it("kills a sleep with SIGTERM and reports 128+15", async () => {
    // PID 1 ignores SIGTERM without a handler, so signal every process (kill --all): sleep dies by
    // SIGTERM and the shell exits with the status `wait` saw.
    await withContainer({ args: ["sh", "-c", "sleep 30 & wait $!"], stdio: { kind: "none" } }, async (c) => {
      await new Promise((r) => setTimeout(r, 300));
      unwrap(await c.kill("SIGTERM", true));
      const exit = unwrap(await c.exited);
      expect(exit.exitStatus).toBe(128 + 15);
    });
  });

  it("execs into a running task, with its own stdio and exit code", async () => {
    await withContainer({ args: ["sleep", "30"], stdio: { kind: "none" } }, async (c) => {
      const execId = uniqueName("exec");
      const io = unwrap(await createFifoIO({ id: execId }));
      try {
        const process = { ...c.container.spec.process, args: ["sh", "-c", "echo from exec; echo oops >&2; exit 3"] };
        unwrap(await client.tasks.exec(c.id, { execId, process, ...io.paths }));
        const waited = client.tasks.wait(c.id, execId);
        unwrap(await client.tasks.start(c.id, execId));
        io.attach()._unsafeUnwrap();
        const [out, errText, exit] = await Promise.all([text(stream(io.stdout)), text(stream(io.stderr)), waited]);
        expect(out).toBe("from exec\n");
        expect(errText).toBe("oops\n");
        expect(exit._unsafeUnwrap().exitStatus).toBe(3);
        const pids = unwrap(await client.tasks.pids(c.id));
        expect(pids).toContain(c.pid);
        expect(unwrap(await client.tasks.deleteProcess(c.id, execId)).exitStatus).toBe(3);
      } finally {
        await io.close();
      }
    });
  });

  it("sees task create, start and exit events in order", async () => {
    const controller = new AbortController();
    const seen: ContainerdEvent[] = [];
    const subscription = client.events.subscribe([`namespace==${client.namespace}`], { signal: controller.signal });
    const marker = `/berth/ready/${uniqueName("m")}`.replaceAll("-", "_");
    const reading = (async () => {
      try {
        for await (const e of subscription) {
          seen.push(e);
          if (e.topic === "/tasks/delete") break;
        }
      } catch {
        // aborted
      }
    })();
    // Publish a marker until the subscription sees it, so no event is missed.
    await eventually(
      async () => {
        await client.events.publish(marker, {
          typeUrl: "containerd.events.ContainerDelete",
          value: new Uint8Array([10, 1, 120]),
        });
        return seen.some((e) => e.topic === marker);
      },
      (v) => v,
    );
    let id = "";
    await withContainer({ args: ["true"], stdio: { kind: "none" } }, async (c) => {
      id = c.id;
      await c.exited;
    });
    await eventually(
      async () => seen.some((e) => e.topic === "/tasks/delete"),
      (v) => v,
    );
    controller.abort();
    await reading;
    const mine = seen.filter((e) =>
      "containerId" in e.event ? e.event.containerId === id : "id" in e.event && e.event.id === id,
    );
    const topics = mine.map((e) => e.topic);
    expect(topics).toEqual(
      expect.arrayContaining(["/containers/create", "/tasks/create", "/tasks/start", "/tasks/exit"]),
    );
    const at = (t: string) => topics.indexOf(t);
    expect(at("/containers/create")).toBeLessThan(at("/tasks/create"));
    expect(at("/tasks/create")).toBeLessThan(at("/tasks/start"));
    expect(at("/tasks/start")).toBeLessThan(at("/tasks/exit"));
    const exit = mine.find((e) => e.topic === "/tasks/exit")?.event;
    expect(exit?.type).toBe("TaskExit");
    if (exit?.type === "TaskExit") expect(exit.exitStatus).toBe(0);
    expect(seen.find((e) => e.topic === marker)?.event).toEqual({ type: "ContainerDelete", id: "x" });
  });

  it("decodes cgroup metrics of a running task", async () => {
    await withContainer({ args: ["sleep", "30"], stdio: { kind: "none" } }, async (c) => {
      const m = unwrap(await client.tasks.metrics(c.id));
      expect(["v1", "v2"]).toContain(m.cgroup);
      expect(m.pids.current).toBeGreaterThanOrEqual(1n);
      expect(m.memory.usage).toBeGreaterThan(0n);
      expect(typeof m.cpu.usageNs).toBe("bigint");
    });
  });

  it("runs with a pty that can be resized, under typed runc options", async () => {
    await withContainer(
      {
        args: ["sh", "-c", "sleep 0.5; stty size; tty"],
        terminal: true,
        runtime: { name: "io.containerd.runc.v2", options: { binaryName: "runc" } },
      },
      async (c) => {
        expect(c.io?.stderr).toBeUndefined();
        unwrap(await client.tasks.resizePty(c.id, { width: 100, height: 40 }));
        const [out, exit] = await Promise.all([text(stream(c.io?.stdout)), c.exited]);
        expect(exit._unsafeUnwrap().exitStatus).toBe(0);
        expect(out).toContain("40 100\r\n");
        expect(out).toMatch(/\/dev\/pts\/\d+/);
        const stored = unwrap(await client.containers.get(c.id));
        expect(stored.runtime.name).toBe("io.containerd.runc.v2");
        expect(stored.runtime.options?.typeUrl).toBe("containerd.runc.v1.Options");
      },
    );
  });

  it("checkpoints a task where CRIU works, else names CRIU in a tagged error", async () => {
    await withContainer({ args: ["sleep", "30"], stdio: { kind: "none" } }, async (c) => {
      const cp = await client.tasks.checkpoint(c.id);
      if (cp.isOk()) {
        expect(cp.value.length).toBeGreaterThan(0);
        for (const d of cp.value) unwrap(await client.content.delete(d.digest));
      } else {
        // CRIU cannot dump in this environment (e.g. nested containers): the daemon's reason comes through.
        expect(cp.error.message).toMatch(/criu/i);
        expect(cp.error.resource).toBe(`task "${c.id}"`);
      }
    });
  });

  it("pauses and resumes a task", async () => {
    await withContainer({ args: ["sleep", "30"], stdio: { kind: "none" } }, async (c) => {
      unwrap(await client.tasks.pause(c.id));
      expect(unwrap(await client.tasks.get(c.id)).status).toBe("paused");
      unwrap(await client.tasks.resume(c.id));
      expect(unwrap(await client.tasks.get(c.id)).status).toBe("running");
    });
  });

  it("writes output to a file:// log URI", async () => {
    const log = join(scratch, `${uniqueName("log")}.log`);
    // The sleep is for containerd's shim, not for berth: its file logger hands the stdout copier the file itself and
    // only the stderr copier the shared, counted handle, so when stdout ends first (the process exits) the file is
    // closed under a stderr copy that has not run yet. On a loaded machine that lost "err-to-file" on both daemons;
    // a second of slack lets the stderr copy finish before the exit.
    await withContainer(
      {
        args: ["sh", "-c", "echo to-file; echo err-to-file >&2; sleep 1"],
        stdio: { kind: "log", uri: `file://${log}` },
      },
      async (c) => {
        expect(unwrap(await c.exited).exitStatus).toBe(0);
        const content = await eventually(
          () => readFile(log, "utf8").catch(() => ""),
          (t) => t.includes("err-to-file"),
        );
        expect(content).toContain("to-file\n");
        expect(content).toContain("err-to-file\n");
      },
    );
  });

  it("feeds a binary:// logger", async () => {
    const dir = await mkdtemp(join(scratch, "logger-"));
    const logger = join(dir, "logger.sh");
    // The shim passes each query key then its value as argv (order not guaranteed), stdout on fd 3,
    // stderr on fd 4, and waits for fd 5 to close before starting the container.
    await writeFile(
      logger,
      `#!/bin/sh\nout=""\nwhile [ $# -gt 0 ]; do [ "$1" = dir ] && out="$2"; shift 2; done\nexec 5>&-\ncat <&3 > "$out/stdout" &\ncat <&4 > "$out/stderr"\nwait\n`,
    );
    await chmod(logger, 0o755);
    await withContainer(
      {
        args: ["sh", "-c", "echo via-logger; echo err-via-logger >&2"],
        stdio: { kind: "log", uri: `binary://${logger}?dir=${dir}` },
      },
      async (c) => {
        expect(unwrap(await c.exited).exitStatus).toBe(0);
        const out = await eventually(
          () => readFile(join(dir, "stdout"), "utf8").catch(() => ""),
          (t) => t.length > 0,
        );
        const errText = await eventually(
          () => readFile(join(dir, "stderr"), "utf8").catch(() => ""),
          (t) => t.length > 0,
        );
        expect(out).toBe("via-logger\n");
        expect(errText).toBe("err-via-logger\n");
      },
    );
  });

  it("joins a pre-made network namespace and sees its interfaces", async () => {
    const name = uniqueName("ns");
    execFileSync("ip", ["netns", "add", name]);
    try {
      execFileSync("ip", ["-n", name, "link", "add", "berth0", "type", "veth", "peer", "name", "berth1"]);
      await withContainer({ args: ["cat", "/proc/net/dev"], netns: `/var/run/netns/${name}` }, async (c) => {
        const [out, exit] = await Promise.all([text(stream(c.io?.stdout)), c.exited]);
        expect(exit._unsafeUnwrap().exitStatus).toBe(0);
        expect(out).toContain("berth0:");
        expect(out).toContain("berth1:");
        expect(out).toContain("lo:");
      });
    } finally {
      execFileSync("ip", ["netns", "del", name]);
    }
  });

  it("starts 50 containers concurrently and all exit 0", async () => {
    const runs = await Promise.all(
      Array.from({ length: 50 }, () =>
        withContainer({ args: ["true"], stdio: { kind: "none" } }, async (c) => unwrap(await c.exited).exitStatus),
      ),
    );
    expect(runs).toEqual(Array.from({ length: 50 }, () => 0));
  }, 240_000);

  it("gives tagged errors for a missing image, a wrong namespace and a missing socket", async () => {
    const missing = await runContainer(client, { image: "docker.io/library/does-not-exist:latest", args: ["true"] });
    expect(missing._unsafeUnwrapErr().code).toBe("NotFound");
    expect(missing._unsafeUnwrapErr().resource).toBe('image "docker.io/library/does-not-exist:latest"');

    const other = client.withNamespace(uniqueName("empty"))._unsafeUnwrap();
    const wrongNs = await runContainer(other, { image: TEST_IMAGE, args: ["true"] });
    expect(wrongNs._unsafeUnwrapErr().code).toBe("NotFound");
    expect(wrongNs._unsafeUnwrapErr().message).toContain(TEST_IMAGE);

    await using nowhere = createContainerd({ address: join(scratch, "missing.sock"), namespace: "x" })._unsafeUnwrap();
    const unreachable = await runContainer(nowhere, { image: TEST_IMAGE, args: ["true"] });
    expect(unreachable._unsafeUnwrapErr().code).toBe("Unavailable");
    expect(unreachable._unsafeUnwrapErr().message).toContain("no containerd socket");
  });

  it("leaves no containers, tasks, snapshots or leases behind", async () => {
    expect(unwrap(await client.containers.list())).toEqual([]);
    expect(unwrap(await client.tasks.list())).toEqual([]);
    expect(unwrap(await client.leases.list())).toEqual([]);
    // Only the image's committed layer remains, until the image is deleted.
    const snaps = unwrap(await client.snapshots(daemon.snapshotter).list());
    expect(snaps.every((x) => x.kind === "committed")).toBe(true);
    await tearDownNamespace(client, daemon.snapshotter);
    await expectEmpty(client, daemon.snapshotter);
  });
});
