// vitest globalSetup of the integration project: in CI a missing stack is a failure, not a skip;
// locally it prints once how to run the integration tests and lets the files skip.
import { HOW_TO_RUN, stack, stackEnvPath, stackUnavailableReason } from "./stack.js";

export default function setup(): void {
  const reason = stackUnavailableReason();
  if (reason !== undefined) {
    if (process.env.CI) {
      throw new Error(`integration stack unavailable in CI: ${reason} (env file ${stackEnvPath()})`);
    }
    console.warn(`\n[berth] integration tests skipped: ${reason}; ${HOW_TO_RUN}.\n`);
    return;
  }
  const s = stack();
  if (s && process.env.CI && s.daemons.length < 2) {
    throw new Error("CI must test against containerd 1.6 and 2.1: the stack env has only one daemon");
  }
}
