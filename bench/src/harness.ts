// The benchmark harness: berth and its peer do the same work, alternately (A B, B A, A B, ...),
// in one process tree and one run; the result is the median of per-round ratios berth/peer.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Goal, goalMet, median, type RatioSummary, summarizeRatios } from "./stats.js";

/** One side of a comparison: does one measured unit of work and returns how long it took in ms. */
export interface Side {
  readonly name: string;
  /** Runs one measured round; returns milliseconds (lower is better) unless the comparison says otherwise. */
  run(): Promise<number>;
}

/** One comparison: berth against its peer on the same work. */
export interface Comparison {
  readonly name: string;
  /** What one round measures, for the report. */
  readonly unit: string;
  readonly berth: Side;
  readonly peer: Side;
  readonly rounds: number;
  /** Unmeasured rounds run first on both sides (JIT, connections, page cache). */
  readonly warmup: number;
  readonly goal: Goal;
  /** "time": lower is better, ratio = berth/peer. "rate": higher is better, ratio = berth/peer too. */
  readonly metric: "time" | "rate";
}

/** A benchmark module: builds its comparisons (after any setup) and tears down afterwards. */
export interface Benchmark {
  readonly name: string;
  readonly description: string;
  prepare(): Promise<{ comparisons: Comparison[]; teardown: () => Promise<void> }>;
}

export interface ComparisonResult {
  readonly benchmark: string;
  readonly comparison: string;
  readonly unit: string;
  readonly metric: "time" | "rate";
  readonly berth: { readonly name: string; readonly samples: number[]; readonly median: number };
  readonly peer: { readonly name: string; readonly samples: number[]; readonly median: number };
  readonly ratio: RatioSummary;
  readonly goal: Goal;
  readonly met: boolean;
}

export async function runComparison(
  benchmark: string,
  c: Comparison,
  log: (line: string) => void,
): Promise<ComparisonResult> {
  for (let i = 0; i < c.warmup; i++) {
    await c.berth.run();
    await c.peer.run();
  }
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < c.rounds; i++) {
    // Alternate which side goes first so drift (cache warmth, background load) hits both alike.
    let x: number;
    let y: number;
    if (i % 2 === 0) {
      x = await c.berth.run();
      y = await c.peer.run();
    } else {
      y = await c.peer.run();
      x = await c.berth.run();
    }
    a.push(x);
    b.push(y);
    ratios.push(x / y);
    log(
      `  round ${i + 1}/${c.rounds}: ${c.berth.name} ${x.toFixed(2)} ${c.peer.name} ${y.toFixed(2)} (${c.unit}) ratio ${(x / y).toFixed(3)}`,
    );
  }
  const ratio = summarizeRatios(ratios);
  return {
    benchmark,
    comparison: c.name,
    unit: c.unit,
    metric: c.metric,
    berth: { name: c.berth.name, samples: a, median: median(a) },
    peer: { name: c.peer.name, samples: b, median: median(b) },
    ratio,
    goal: c.goal,
    met: goalMet(c.goal, ratio.median),
  };
}

/** The last line of a run, one per comparison: `<name>: ratio=<median> goal=<op value> <met|missed>`. */
export function verdictLine(r: ComparisonResult): string {
  return `${r.comparison}: ratio=${r.ratio.median.toFixed(3)} goal=${r.goal.op} ${r.goal.value} ${r.met ? "met" : "missed"}`;
}

export function markdownTable(results: readonly ComparisonResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.comparison} | ${r.unit} | ${r.berth.median.toFixed(2)} | ${r.peer.name} | ${r.peer.median.toFixed(2)} | ` +
      `${r.ratio.median.toFixed(3)} | ${r.ratio.p25.toFixed(3)}..${r.ratio.p75.toFixed(3)} | ${r.goal.op} ${r.goal.value} | ${r.met ? "met" : "missed"} |`,
  );
  return [
    "| comparison | unit | berth (median) | peer | peer (median) | ratio berth/peer | ratio p25..p75 | goal | verdict |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

/** Writes `<dir>/<benchmark>-<stamp>.json` and `.md`; returns the paths. */
export function writeResults(
  dir: string,
  benchmark: string,
  results: readonly ComparisonResult[],
  meta: object,
): string[] {
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const json = join(dir, `${benchmark}-${stamp}.json`);
  const md = join(dir, `${benchmark}-${stamp}.md`);
  writeFileSync(json, `${JSON.stringify({ ...meta, results }, null, 2)}\n`);
  writeFileSync(md, `# ${benchmark} (${new Date().toISOString()})\n\n${markdownTable(results)}\n`);
  return [json, md];
}
