// The one place berth's test projects are listed. vitest.config.ts imports this file (vitest 4
// no longer reads a workspace file by itself), so what runs is exactly what is listed here.
//
// - unit:        packages' `src/**/*.test.ts` (beside the code), examples and bench helpers.
//                No root, no daemons, no network.
// - integration: `packages/*/test/**/*.integration.test.ts` and `examples/test/**`, against the
//                real stack `scripts/stack up` starts (containerd 1.6 and 2.1, registry, CNI).
//                In CI a missing stack fails the run; locally without it the files skip and say why.
import type { TestProjectInlineConfiguration } from "vitest/config";

const shared = {
  // Workspace packages resolve to their TypeScript sources (no build needed before tests).
  ssr: { resolve: { conditions: ["@berth/source"] } },
  resolve: { conditions: ["@berth/source"] },
} as const;

const projects: TestProjectInlineConfiguration[] = [
  {
    ...shared,
    test: {
      name: "unit",
      include: ["packages/*/src/**/*.test.ts", "examples/src/**/*.test.ts", "bench/src/**/*.test.ts"],
      environment: "node",
      testTimeout: 15_000,
      // Unit tests run first; the integration group follows with its own worker limit.
      sequence: { groupOrder: 0 },
    },
  },
  {
    ...shared,
    test: {
      name: "integration",
      include: ["packages/*/test/**/*.integration.test.ts", "examples/test/**/*.integration.test.ts"],
      environment: "node",
      globalSetup: ["packages/testkit/src/global-setup.ts"],
      testTimeout: 120_000,
      hookTimeout: 120_000,
      // Files share two daemons and a registry; two workers match the CI machine's two cores.
      maxWorkers: 2,
      sequence: { groupOrder: 1 },
    },
  },
];

export default projects;
