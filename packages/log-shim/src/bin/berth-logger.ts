// berth-logger: the logger binary containerd's shim starts for a `binary://` log URI built by
// buildBerthLoggerUri(). Protocol and flags: see runBerthLogger and the package README. The built file starts with
// BERTH_LOGGER_PREAMBLE (./preamble.ts), which has already closed the ready pipe when it says so.
import { runBerthLogger } from "../logger-runtime.js";
import { READY_SENT_ENV } from "./preamble.js";

const readySignalled = process.env[READY_SENT_ENV] === "1";
delete process.env[READY_SENT_ENV];

runBerthLogger({ argv: process.argv.slice(2), env: process.env, readySignalled }).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`berth-logger: unexpected failure: ${String(e)}\n`);
    process.exit(1);
  },
);
