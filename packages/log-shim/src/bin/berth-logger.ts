#!/usr/bin/env node
// berth-logger: the logger binary containerd's shim starts for a `binary://` log URI built by
// buildBerthLoggerUri(). Protocol and flags: see runBerthLogger and the package README.
import { runBerthLogger } from "../logger-runtime.js";

runBerthLogger({ argv: process.argv.slice(2), env: process.env }).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`berth-logger: unexpected failure: ${String(e)}\n`);
    process.exit(1);
  },
);
