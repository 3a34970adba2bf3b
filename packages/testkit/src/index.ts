/**
 * Test support for berth's integration tests. Private: not published.
 * @packageDocumentation
 */
export {
  DEFAULT_STACK_DIR,
  HOW_TO_RUN,
  parseEnvFile,
  type Stack,
  type StackDaemon,
  stack,
  stackEnvPath,
  stackUnavailableReason,
} from "./stack.js";
export { uniqueName } from "./unique.js";
