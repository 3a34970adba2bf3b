// `pnpm berth metadata serve`: serves a state file on 127.0.0.1 and reloads it when it changes.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { newEndpointId } from "@berth/metadata";
import { afterEach, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

/** Runs the CLI in its own process group (what `pnpm berth` runs), so cleanup can end the whole group. */
function berth(args: string[]): ChildProcess {
  // tsx as a loader, not its CLI: the CLI is a parent process that re-sends signals and force-kills a child that
  // has not acknowledged one within 30 ms, which on a loaded machine turns a clean SIGTERM exit into 143.
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--conditions=@berth/source", "examples/src/cli/main.ts", ...args],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  children.push(child);
  return child;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

function state(knownStatus: string, endpointId: string) {
  return JSON.stringify({
    tasks: [
      {
        task: {
          cluster: "default",
          arn: "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef",
          family: "web",
          revision: 1,
          knownStatus,
          containers: [
            {
              runtimeId: "c1",
              name: "web",
              runtimeName: "web",
              image: "busybox",
              imageId: "",
              desiredStatus: "RUNNING",
              knownStatus: "RUNNING",
            },
          ],
        },
        endpoints: { c1: endpointId },
      },
    ],
    credentials: [
      {
        id: "cred-1",
        credentials: {
          roleArn: "arn:aws:iam::123456789012:role/web",
          accessKeyId: "AKIA",
          secretAccessKey: "S",
          sessionToken: "T",
          expiration: "2030-01-01T00:00:00Z",
        },
      },
    ],
  });
}

async function waitFor<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(-c.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("pnpm berth metadata serve", () => {
  it("serves the state file, reloads it on change, keeps the old state on a bad file, stops on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-metadata-"));
    dirs.push(dir);
    const file = join(dir, "state.json");
    const id = newEndpointId();
    writeFileSync(file, state("RUNNING", id));
    const port = await freePort();
    const child = berth(["metadata", "serve", "--state", file, "--listen", `127.0.0.1:${port}`, "--no-throttle"]);
    let out = "";
    let errText = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      errText += d.toString();
    });
    const base = `http://127.0.0.1:${port}`;
    const status = () =>
      fetch(`${base}/v4/${id}/task`).then(async (r) =>
        r.status === 200 ? ((await r.json()) as { KnownStatus: string }).KnownStatus : undefined,
      );
    expect(await waitFor(status, 30_000)).toBe("RUNNING");
    expect(out).toContain(`on ${base}`);
    expect((await fetch(`${base}/v4/${newEndpointId()}/task`)).status).toBe(404);
    const creds = await fetch(`${base}/v2/credentials/cred-1`);
    expect(((await creds.json()) as { AccessKeyId: string }).AccessKeyId).toBe("AKIA");

    // Replace the file the way editors do (write + rename).
    writeFileSync(`${file}.tmp`, state("STOPPED", id));
    renameSync(`${file}.tmp`, file);
    expect(await waitFor(async () => ((await status()) === "STOPPED" ? "STOPPED" : undefined), 10_000)).toBe("STOPPED");

    writeFileSync(file, "{ not json");
    await waitFor(async () => (errText.includes("kept the previous state") ? true : undefined), 10_000);
    expect(await status()).toBe("STOPPED");

    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
    if (child.pid !== undefined) process.kill(-child.pid, "SIGTERM");
    expect(await exited).toBe(0);
  });

  it("exits 2 on bad usage and 1 on a bad state file", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((done) => {
        const c = berth(["metadata", ...args]);
        let stderr = "";
        c.stderr?.on("data", (d: Buffer) => {
          stderr += d.toString();
        });
        c.on("exit", (code) => done({ code, stderr }));
      });
    const noState = await run(["serve"]);
    expect(noState.code).toBe(2);
    expect(noState.stderr).toContain("--state is required");
    const dir = mkdtempSync(join(tmpdir(), "berth-metadata-"));
    dirs.push(dir);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ tasks: [{ task: { arn: "x" }, endpoints: {} }] }));
    const badState = await run(["serve", "--state", bad, "--listen", "127.0.0.1:0"]);
    expect(badState.code).toBe(1);
    expect(badState.stderr).toContain("tasks[0]");
  });
});
