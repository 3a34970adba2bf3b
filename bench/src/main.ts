// `pnpm bench [name ...]`: runs the named benchmarks (all when none is named), prints a verdict
// line per comparison and writes JSON + markdown under bench/results/.
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cniBenchmark } from "./benchmarks/cni.js";
import { containerdBenchmark } from "./benchmarks/containerd.js";
import { loggerBenchmark } from "./benchmarks/logger.js";
import { metadataBenchmark } from "./benchmarks/metadata.js";
import { netnsBenchmark } from "./benchmarks/netns.js";
import { pullBenchmark } from "./benchmarks/pull.js";
import { taskBenchmark } from "./benchmarks/task.js";
import { versionBenchmark } from "./benchmarks/version.js";
import {
  type Benchmark,
  type ComparisonResult,
  markdownTable,
  runComparison,
  verdictLine,
  writeResults,
} from "./harness.js";

const benchmarks: readonly Benchmark[] = [
  versionBenchmark,
  containerdBenchmark,
  pullBenchmark,
  cniBenchmark,
  netnsBenchmark,
  metadataBenchmark,
  loggerBenchmark,
  taskBenchmark,
];
const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "results");

async function main(names: readonly string[]): Promise<number> {
  if (names.includes("--help") || names.includes("-h") || names.includes("--list")) {
    console.log("usage: pnpm bench [name ...]\n\nbenchmarks:");
    for (const b of benchmarks) console.log(`  ${b.name.padEnd(12)} ${b.description}`);
    return 0;
  }
  const unknown = names.filter((n) => !benchmarks.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${benchmarks.map((b) => b.name).join(", ")}`);
    return 2;
  }
  const selected = names.length === 0 ? benchmarks : benchmarks.filter((b) => names.includes(b.name));
  const all: ComparisonResult[] = [];
  for (const b of selected) {
    console.log(`# ${b.name}: ${b.description}`);
    const { comparisons, teardown } = await b.prepare();
    const results: ComparisonResult[] = [];
    try {
      for (const c of comparisons) {
        console.log(`## ${c.name} (${c.rounds} rounds, ${c.berth.name} vs ${c.peer.name})`);
        results.push(await runComparison(b.name, c, (l) => console.log(l)));
      }
    } finally {
      await teardown();
    }
    const meta = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString() };
    const files = writeResults(resultsDir, b.name, results, meta);
    console.log(`\n${markdownTable(results)}\n\nresults: ${files.join(", ")}`);
    all.push(...results);
  }
  console.log("");
  for (const r of all) console.log(verdictLine(r));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  },
);
