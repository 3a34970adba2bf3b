// What the reference agent's integration tests share: a containerd client in a namespace of its own, a scratch
// directory, a bridge name and a subnet per test, the cleanup that removes all of it, and the `berth task` CLI run
// the way a user runs it.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Containerd, createContainerd, removeContainer } from "@berth/containerd";
import { uniqueName } from "@berth/testkit";

/** The repository root (the CLI runs from there, as `pnpm berth` does). */
export const ROOT = resolve(import.meta.dirname, "../..");

/** The built berth-logger binary the agent's json-file logs use. */
export const LOGGER = join(ROOT, "packages/log-shim/dist/bin/berth-logger.cjs");

/** Runs a command for its stdout; a failure (or a missing command) reads as "". */
export function quiet(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
}

/** One test's own resources. */
export interface AgentWorld {
  readonly client: Containerd;
  /** A scratch directory, removed by {@link closeWorld}. */
  readonly dir: string;
  /** A bridge name no other test uses (`<prefix><8 hex>`). */
  readonly bridge: string;
  /** A /24 under `10.<second>.x.0/24`. */
  readonly subnet: string;
}

/** What {@link openWorld} needs: the daemon, and names that keep concurrent test files apart. */
export interface WorldOptions {
  readonly address: string;
  /** Prefix of the containerd namespace and the scratch directory, e.g. `agent-storage`. */
  readonly name: string;
  /** Two letters starting the bridge name, e.g. `bs`. */
  readonly bridgePrefix: string;
  /** The second octet of the subnet (each test file has its own, so concurrent files never collide). */
  readonly subnetOctet: number;
}

/** Creates a test's client, directory, bridge name and subnet. */
export function openWorld(o: WorldOptions): AgentWorld {
  const client = createContainerd({
    address: o.address,
    namespace: uniqueName(o.name),
    timeoutMs: 60_000,
  })._unsafeUnwrap();
  return {
    client,
    dir: mkdtempSync(join(tmpdir(), `berth-${o.name}-`)),
    bridge: `${o.bridgePrefix}${randomBytes(4).toString("hex")}`,
    subnet: `10.${o.subnetOctet}.${randomInt(1, 255)}.0/24`,
  };
}

/** Removes every container (with its snapshot), image and lease of the client's namespace, then the namespace. */
export async function wipeNamespace(client: Containerd, snapshotter?: string): Promise<void> {
  const containers = await client.containers.list();
  for (const c of containers.isOk() ? containers.value : []) {
    await removeContainer(client, c.id, snapshotter ? { snapshotter } : {});
  }
  const images = await client.images.list();
  for (const i of images.isOk() ? images.value : []) await client.images.delete(i.name, true);
  const leases = await client.leases.list();
  for (const l of leases.isOk() ? leases.value : []) await client.leases.delete(l.id, true);
  await client.namespaces.delete(client.namespace);
}

/** Removes everything {@link openWorld} made and whatever the test left in its namespace and on its bridge. */
export async function closeWorld(w: AgentWorld, snapshotter?: string): Promise<void> {
  await wipeNamespace(w.client, snapshotter);
  await w.client.close();
  quiet("ip", ["link", "del", w.bridge]);
  rmSync(w.dir, { recursive: true, force: true });
}

/** How one CLI run ended. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `berth task ARGS...` from the repository root on workspace sources. tsx is a loader here, not a wrapper
 * process, so signals sent to the child reach the CLI itself.
 */
export function taskCli(...args: string[]): Promise<CliRun> {
  return new Promise((done) => {
    const p = spawn(
      process.execPath,
      ["--import", "tsx", "--conditions=@berth/source", "examples/src/cli/main.ts", "task", ...args],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (b: Buffer) => {
      stdout += b.toString("utf8");
    });
    p.stderr.on("data", (b: Buffer) => {
      stderr += b.toString("utf8");
    });
    p.once("exit", (code) => done({ code, stdout, stderr }));
  });
}
