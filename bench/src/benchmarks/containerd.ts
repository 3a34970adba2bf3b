// Running a container end to end: berth's runContainer (in process: create container + snapshot,
// FIFO stdio, create task, wait, start, exit, delete task, container and snapshot) against
// `ctr run --rm IMAGE ID true` (its process start-up counted, as an agent shelling out pays it).
// 30 sequential runs per round, and 20 concurrent runs per round, on each daemon of the stack.
import { execFile } from "node:child_process";
import { createContainerd, importImage, runContainer } from "@berth/containerd";
import { stack, uniqueName } from "@berth/testkit";
import type { Benchmark, Comparison, Side } from "../harness.js";

const SEQUENTIAL = 30;
const CONCURRENT = 20;
const IMAGE = "docker.io/library/busybox-test:latest";

function spawn(file: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], (error, _stdout, stderr) =>
      error ? reject(new Error(`${file} ${args.join(" ")}: ${stderr || error.message}`)) : resolve(),
    );
  });
}

export const containerdBenchmark: Benchmark = {
  name: "containerd",
  description: `run \`true\` in the test image: berth runContainer vs ctr run --rm, ${SEQUENTIAL} sequential and ${CONCURRENT} concurrent`,
  async prepare() {
    const s = stack();
    if (!s) throw new Error("the stack is not up: run `bash scripts/stack up` as root first");
    const source = s.env.TEST_IMAGE_ARCHIVE ?? s.testImageLayout;
    if (!source) throw new Error("the stack has no test image (TEST_IMAGE_ARCHIVE)");
    const comparisons: Comparison[] = [];
    const teardowns: Array<() => Promise<void>> = [];
    for (const daemon of s.daemons) {
      const client = createContainerd({ address: daemon.address, namespace: uniqueName("bench") })._unsafeUnwrap();
      (await importImage(client, source, { snapshotter: daemon.snapshotter }))._unsafeUnwrap();
      teardowns.push(async () => {
        await client.images.delete(IMAGE, true);
        await client.namespaces.delete(client.namespace);
        await client.close();
      });
      const berthOnce = async () => {
        const c = (
          await runContainer(client, { image: IMAGE, args: ["true"], snapshotter: daemon.snapshotter })
        )._unsafeUnwrap();
        c.io?.stdout?.resume();
        c.io?.stderr?.resume();
        const exit = (await c.exited)._unsafeUnwrap();
        (await c.remove())._unsafeUnwrap();
        if (exit.exitStatus !== 0) throw new Error(`true exited ${exit.exitStatus}`);
      };
      const ctrOnce = () =>
        spawn(daemon.ctr, [
          "--address",
          daemon.address,
          "--namespace",
          client.namespace,
          "run",
          "--rm",
          "--snapshotter",
          daemon.snapshotter,
          IMAGE,
          uniqueName("ctr"),
          "true",
        ]);
      const timed =
        (work: () => Promise<void>): (() => Promise<number>) =>
        async () => {
          const t = performance.now();
          await work();
          return performance.now() - t;
        };
      const sequential = async (once: () => Promise<void>) => {
        for (let i = 0; i < SEQUENTIAL; i++) await once();
      };
      const concurrent = async (once: () => Promise<void>) => {
        await Promise.all(Array.from({ length: CONCURRENT }, () => once()));
      };
      const side = (name: string, run: () => Promise<number>): Side => ({ name, run });
      comparisons.push({
        name: `run-sequential-${daemon.name}`,
        unit: `ms per ${SEQUENTIAL} sequential runs`,
        berth: side(
          "berth",
          timed(() => sequential(berthOnce)),
        ),
        peer: side(
          "ctr run --rm",
          timed(() => sequential(ctrOnce)),
        ),
        rounds: 3,
        warmup: 1,
        goal: { op: "<=", value: 1.0 },
        metric: "time",
      });
      comparisons.push({
        name: `run-concurrent-${daemon.name}`,
        unit: `ms per ${CONCURRENT} concurrent runs`,
        berth: side(
          "berth",
          timed(() => concurrent(berthOnce)),
        ),
        peer: side(
          "ctr run --rm",
          timed(() => concurrent(ctrOnce)),
        ),
        rounds: 3,
        warmup: 1,
        goal: { op: "<=", value: 1.0 },
        metric: "time",
      });
    }
    return {
      comparisons,
      teardown: async () => {
        for (const t of teardowns) await t();
      },
    };
  },
};
