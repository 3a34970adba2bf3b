import { packageBuild } from "../../tsup.shared.ts";

export default [
  // The library (its clean leaves the binary's directory alone: both builds run at once).
  packageBuild({ clean: ["!bin/**"] }),
  // The berth-logger binary (package.json "bin"): one self-contained CommonJS file with its dependencies bundled,
  // because containerd's shim waits for the logger to be ready before it starts the container, so start-up time
  // is container start-up time; resolving and loading ESM dependencies roughly doubles it. tsup keeps the
  // `#!/usr/bin/env node` line and makes the file executable.
  packageBuild({
    entry: { "bin/berth-logger": "src/bin/berth-logger.ts" },
    format: ["cjs"],
    dts: false,
    clean: false,
    sourcemap: false,
    noExternal: [/./],
  }),
];
