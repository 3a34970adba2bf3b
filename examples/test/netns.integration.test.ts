// `pnpm berth netns add|ls|exec|rm|sweep` against the real kernel (root), in /run/netns with unique names;
// everything is removed in afterEach, also when a test fails, and checked to be gone.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { stack, uniqueName } from "@berth/testkit";
import { afterEach, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const s = stack();

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function berth(args: string[], asUser?: number): Promise<Outcome> {
  const [bin, argv] =
    asUser === undefined
      ? ["pnpm", ["--silent", "berth", "netns", ...args]]
      : [
          "setpriv",
          [
            `--reuid=${asUser}`,
            `--regid=${asUser}`,
            "--clear-groups",
            resolve(root, "node_modules/.bin/tsx"),
            "--conditions=@berth/source",
            "examples/src/cli/main.ts",
            "netns",
            ...args,
          ],
        ];
  return run(bin, argv, { cwd: root, encoding: "utf8" }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

function nsfsMountsOn(path: string): number {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((line) => line.includes(" - nsfs ") && line.split(" ")[4] === path).length;
}

describe.skipIf(!s)("pnpm berth netns", () => {
  const names: string[] = [];
  afterEach(async () => {
    for (const name of names.splice(0)) {
      await berth(["rm", "--force", name]);
      expect(existsSync(`/run/netns/${name}`), `/run/netns/${name} left behind`).toBe(false);
      expect(existsSync(`/etc/netns/${name}`), `/etc/netns/${name} left behind`).toBe(false);
      expect(nsfsMountsOn(`/run/netns/${name}`)).toBe(0);
    }
  });

  function fresh(): string {
    const name = uniqueName("clins");
    names.push(name);
    return name;
  }

  it("adds, lists, runs inside, and removes a namespace that outlives the command", async () => {
    const name = fresh();
    const added = await berth(["add", name, "--lo", "--nameserver", "10.213.7.7", "--json"]);
    expect(added.code, added.stderr).toBe(0);
    const out = JSON.parse(added.stdout) as { name: string; path: string; id: string };
    expect(out).toMatchObject({ name, path: `/run/netns/${name}` });
    expect(out.id).toMatch(/^net:\[\d+\]$/);
    expect(nsfsMountsOn(out.path)).toBe(1);
    expect((await run("ip", ["netns", "list"])).stdout).toContain(name);

    const listed = JSON.parse((await berth(["ls", "--json"])).stdout) as Array<{ name: string; id?: string }>;
    expect(listed.find((e) => e.name === name)?.id).toBe(out.id);

    const links = await berth(["exec", name, "--", "ip", "-o", "link"]);
    expect(links.code).toBe(0);
    expect(links.stdout.trim().split("\n")).toHaveLength(1);
    expect(links.stdout).toMatch(/1: lo: <LOOPBACK,UP,LOWER_UP>/);
    const resolv = await berth(["exec", name, "--", "cat", "/etc/resolv.conf"]);
    expect(resolv.stdout).toBe("nameserver 10.213.7.7\n");
    expect((await berth(["exec", name, "--", "sh", "-c", "exit 3"])).code).toBe(3);
    expect((await berth(["sweep", "--json"])).code).toBe(0);
    expect(nsfsMountsOn(out.path)).toBe(1);

    const removed = await berth(["rm", name]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(existsSync(out.path)).toBe(false);
    expect(existsSync(`/etc/netns/${name}`)).toBe(false);
    const again = await berth(["rm", name]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("nothing to do");
  });

  it("refuses to remove a namespace made by ip netns add unless --force", async () => {
    const name = fresh();
    await run("ip", ["netns", "add", name]);
    const refused = await berth(["rm", name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("NotOwned");
    expect(refused.stderr).toContain("--force");
    expect(nsfsMountsOn(`/run/netns/${name}`)).toBe(1);
    expect((await berth(["rm", "--force", name])).code).toBe(0);
    expect((await run("ip", ["netns", "list"])).stdout).not.toContain(name);
  });

  it("reports PermissionDenied to an unprivileged user, and usage errors with exit 2", async () => {
    const name = fresh();
    const denied = await berth(["add", name], 65534);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("PermissionDenied");
    expect(denied.stderr).toMatch(/root|CAP_SYS_ADMIN/);
    expect(existsSync(`/run/netns/${name}`)).toBe(false);
    expect((await berth(["add"])).code).toBe(2);
    expect((await berth(["exec", name])).code).toBe(2);
    expect((await berth(["frobnicate"])).code).toBe(2);
  });
});
