// Persistent network namespaces: create + delete cycles through berth's in-process API against iproute2's
// `ip netns add` + `ip netns del` run from this process with execFile. Everything berth does counts: its owner
// markers and checks, and its tools, which for /run/netns are one resident `ip -force -batch -` helper (started
// lazily by the first cycle, i.e. in the warm-up round, and shared by all cycles; `netns add` / `netns del`
// are lines on its stdin), plus one `ip -n NAME link set dev lo up` process per cycle when lo goes up. The peer
// starts `ip` two (three with lo) times per cycle.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createNetns, deleteNetns, findTool, stopNetnsHelper } from "@berth/netns";
import { stack } from "@berth/testkit";
import type { Benchmark, Comparison, Side } from "../harness.js";

const run = promisify(execFile);
const CYCLES_PER_ROUND = 10;

export const netnsBenchmark: Benchmark = {
  name: "netns",
  description: `${CYCLES_PER_ROUND} create+delete cycles per round: berth (resident ip -batch helper) vs ip netns add/del`,
  async prepare() {
    if (!stack()) throw new Error("needs root and the stack: run `bash scripts/stack up` as root first");
    const ip = (await findTool("ip"))._unsafeUnwrap();
    // Markers of this run go to a private state directory; names carry the pid so parallel runs do not meet.
    const stateDir = mkdtempSync(join(tmpdir(), "berth-bench-netns-"));
    const prefix = `berth-bench-netns-${process.pid}`;
    let round = 0;
    const used: string[] = [];
    const names = (side: string) => {
      round++;
      const batch = Array.from({ length: CYCLES_PER_ROUND }, (_, i) => `${prefix}-${side}-${round}-${i}`);
      used.push(...batch);
      return batch;
    };

    const sides = (loopbackUp: boolean): { berth: Side; peer: Side } => ({
      berth: {
        name: "berth",
        async run() {
          const batch = names("b");
          const t = performance.now();
          for (const name of batch) {
            const ns = (await createNetns(name, { stateDir, loopbackUp }))._unsafeUnwrap();
            (await ns.delete())._unsafeUnwrap();
          }
          return performance.now() - t;
        },
      },
      peer: {
        name: "ip netns",
        async run() {
          const batch = names("p");
          const t = performance.now();
          for (const name of batch) {
            await run(ip, ["netns", "add", name]);
            if (loopbackUp) await run(ip, ["-n", name, "link", "set", "dev", "lo", "up"]);
            await run(ip, ["netns", "del", name]);
          }
          return performance.now() - t;
        },
      },
    });

    const comparisons: Comparison[] = [
      {
        name: "netns-create-delete",
        unit: `ms per ${CYCLES_PER_ROUND} cycles`,
        ...sides(false),
        rounds: 12,
        warmup: 1,
        goal: { op: "<=", value: 1.0 },
        metric: "time",
      },
      {
        name: "netns-create-lo-delete",
        unit: `ms per ${CYCLES_PER_ROUND} cycles, lo up`,
        ...sides(true),
        rounds: 8,
        warmup: 1,
        goal: { op: "<=", value: 1.0 },
        metric: "time",
      },
    ];
    return {
      comparisons,
      teardown: async () => {
        for (const name of used) {
          await deleteNetns(name, { stateDir, force: true });
        }
        rmSync(stateDir, { recursive: true, force: true });
        await stopNetnsHelper();
      },
    };
  },
};
