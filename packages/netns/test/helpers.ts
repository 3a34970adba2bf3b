// Shared by the netns integration tests: what is left behind, and how to clean it up whatever happened.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "vitest";
import { deleteNetns } from "../src/index.js";
import { markerPath } from "../src/owner.js";

export const run = promisify(execFile);

/** One line of /proc/self/mountinfo: the mount point and whether it is an nsfs mount. */
interface MountLine {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly shared: boolean;
}

export function mounts(): MountLine[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const fields = line.split(" ");
      const separator = fields.indexOf("-", 6);
      return {
        mountPoint: (fields[4] ?? "").replace(/\\([0-7]{3})/g, (_, o: string) =>
          String.fromCharCode(Number.parseInt(o, 8)),
        ),
        fsType: fields[separator + 1] ?? "",
        shared: fields.slice(6, separator).some((f) => f.startsWith("shared:")),
      };
    });
}

/** How many nsfs mounts sit on `path` (1 for a created namespace, 0 after delete; 2 would be a duplicate). */
export function nsfsMountsOn(path: string): number {
  return mounts().filter((m) => m.fsType === "nsfs" && m.mountPoint === path).length;
}

/** How many mounts of any type sit on `path` (the self-bind of a netns directory). */
export function mountsOn(path: string): number {
  return mounts().filter((m) => m.mountPoint === path).length;
}

/** Deletes (forced) and then asserts that nothing of namespace `name` in `dir` is left: no file, mount or marker. */
export async function removeAndCheck(names: readonly string[], dir: string, stateDir: string): Promise<void> {
  for (const name of names) {
    const deleted = await deleteNetns(name, { dir, stateDir, force: true });
    if (deleted.isErr()) throw deleted.error;
  }
  for (const name of names) expectNothingLeft(name, dir, stateDir);
}

export function expectNothingLeft(name: string, dir: string, stateDir: string): void {
  const path = join(dir, name);
  expect(existsSync(path), `${path} left behind`).toBe(false);
  expect(nsfsMountsOn(path), `nsfs mount on ${path} left behind`).toBe(0);
  expect(existsSync(markerPath(stateDir, dir, name)), `marker of ${path} left behind`).toBe(false);
}

/** The entries of a directory, or [] when it does not exist. */
export function entries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Resolves once `check` is true, polling every 10 ms; fails after `ms`. */
export async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
