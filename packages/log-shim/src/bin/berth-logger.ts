// berth-logger: the logger binary containerd's shim starts for a `binary://` log URI built by
// buildBerthLoggerUri(). Protocol and flags: see runBerthLogger and the package README. The built file starts with
// BERTH_LOGGER_PREAMBLE (./preamble.ts), which has already closed the ready pipe when it says so, and which hands
// the pipes to a resident logger when the URI names one (`--server`).
//
// `berth-logger serve --socket PATH [--debug-file PATH]` is that resident logger (startBerthLoggerServer): it runs
// until SIGTERM or SIGINT, then stops taking containers and exits once those it logs for have finished.
import { runBerthLogger, sendDebugTo } from "../logger-runtime.js";
import { startBerthLoggerServer } from "../logger-server.js";
import { READY_SENT_ENV } from "./preamble.js";

const SERVE_USAGE = "usage: berth-logger serve --socket /abs/path.sock [--debug-file /abs/path.log]";

function flagValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === `--${name}`) return argv[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

async function serve(argv: readonly string[]): Promise<number> {
  const socketPath = flagValue(argv, "socket");
  const debugFile = flagValue(argv, "debug-file");
  const known = new Set(["--socket", "--debug-file"]);
  const unknown = argv.find((a) => a.startsWith("-") && !known.has(a.split("=")[0] as string));
  if (socketPath === undefined || unknown !== undefined) {
    process.stderr.write(`berth-logger serve: ${unknown ? `unknown flag ${unknown}` : "--socket is required"}\n`);
    process.stderr.write(`${SERVE_USAGE}\n`);
    return 2;
  }
  if (debugFile !== undefined) sendDebugTo(debugFile);
  const started = await startBerthLoggerServer({ socketPath });
  if (started.isErr()) {
    process.stderr.write(`berth-logger serve: ${started.error.message}\n`);
    return 1;
  }
  const server = started.value;
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await server.close();
  return 0;
}

const argv = process.argv.slice(2);
let run: Promise<number>;
if (argv[0] === "serve") {
  run = serve(argv.slice(1));
} else {
  const readySignalled = process.env[READY_SENT_ENV] === "1";
  delete process.env[READY_SENT_ENV];
  run = runBerthLogger({ argv, env: process.env, readySignalled });
}
run.then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`berth-logger: unexpected failure: ${String(e)}\n`);
    process.exit(1);
  },
);
