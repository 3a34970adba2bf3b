import { packageBuild } from "../../tsup.shared.ts";
import { BERTH_LOGGER_PREAMBLE } from "./src/bin/preamble.ts";

export default [
  // The library (its clean leaves the binary's directory alone: both builds run at once).
  packageBuild({ clean: ["!bin/**"] }),
  // The berth-logger binary (package.json "bin"): one self-contained CommonJS file with its dependencies bundled,
  // because containerd's shim waits for the logger to be ready before it starts the container, so start-up time
  // is container start-up time; resolving and loading ESM dependencies roughly doubles it. The banner
  // (src/bin/preamble.ts) makes the file a shell script too, which signals readiness before Node starts; tsup
  // sees its `#!` line and makes the file executable.
  packageBuild({
    entry: { "bin/berth-logger": "src/bin/berth-logger.ts" },
    format: ["cjs"],
    dts: false,
    clean: false,
    sourcemap: false,
    noExternal: [/./],
    banner: { js: BERTH_LOGGER_PREAMBLE },
    // Rollup's tree shaking would rewrite the preamble's `':'` line as a directive; esbuild already drops dead code.
    treeshake: false,
  }),
];
