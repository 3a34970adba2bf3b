// 1000 create/delete cycles through berth (a slower file of its own): nothing may accumulate, not one file,
// nsfs mount or marker, and the netns directory must keep exactly the mounts it had.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stack, uniqueName } from "@berth/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetns, DEFAULT_NETNS_DIR, deleteNetns } from "../src/index.js";
import { markerDir } from "../src/owner.js";
import { entries, expectNothingLeft, mounts, mountsOn } from "./helpers.js";

const s = stack();
const CYCLES = 1000;

describe.skipIf(!s)("create/delete cycles", () => {
  let stateDir: string;
  const prefix = uniqueName("cyc");
  let last = -1;

  beforeAll(() => {
    stateDir = mkdtempSync(join(tmpdir(), "berth-netns-cycles-"));
  });
  afterAll(async () => {
    // Whatever a failure left: the cycle that was running.
    if (last >= 0) await deleteNetns(`${prefix}-${last}`, { stateDir, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  });

  it(`${CYCLES} create/delete cycles leave nothing behind`, { timeout: 900_000 }, async () => {
    const dirMountsBefore = mountsOn(DEFAULT_NETNS_DIR);
    for (let i = 0; i < CYCLES; i++) {
      last = i;
      const name = `${prefix}-${i}`;
      const ns = (await createNetns(name, { stateDir, loopbackUp: i % 10 === 0 }))._unsafeUnwrap();
      expect((await ns.delete())._unsafeUnwrap()).toBe(true);
      if (i % 100 === 0) expectNothingLeft(name, DEFAULT_NETNS_DIR, stateDir);
    }
    last = -1;
    for (let i = 0; i < CYCLES; i++) {
      const path = join(DEFAULT_NETNS_DIR, `${prefix}-${i}`);
      if (existsSync(path)) throw new Error(`${path} left behind`);
    }
    expect(entries(markerDir(stateDir, DEFAULT_NETNS_DIR))).toEqual([]);
    expect(mountsOn(DEFAULT_NETNS_DIR)).toBe(dirMountsBefore);
    // Other engineers' namespaces may come and go meanwhile; none of ours may be among the nsfs mounts.
    const ours = mounts().filter((m) => m.fsType === "nsfs" && m.mountPoint.includes(prefix));
    expect(ours).toEqual([]);
  });
});
