import { watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import {
  type CredentialsProvider,
  type MetadataProvider,
  registryFromStateFile,
  startMetadataServer,
  type TaskRegistry,
} from "@berth/metadata";
import { type Command, parseCommandArgs } from "../command.js";

const HELP = `usage: pnpm berth metadata serve --state FILE [--listen HOST:PORT] [--no-throttle]

Serves ECS-compatible task metadata (/v4/<id>, /v3/<id>, /task, /taskWithTags) and credentials
(/v2/credentials/<id>) from a JSON state file, reloading it whenever it changes. Stop with Ctrl-C.
  --state        the state file: {"tasks": [{"task": {...}, "endpoints": {"<runtimeId>": "<endpointId>"}}],
                 "credentials": [{"id": "...", "credentials": {...}, "authorizationToken": "..."}]}
  --listen       address to bind (default 127.0.0.1:51679, the ECS agent's port)
  --no-throttle  turn off the per-address throttle (default: steady 40/s, burst 60)`;

function parseListen(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  const host = m?.[1] ?? m?.[2];
  if (host === undefined || !Number.isInteger(port) || port > 65535) return undefined;
  return { host, port };
}

async function load(path: string): Promise<TaskRegistry | string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    return `cannot read ${path}: ${(e as Error).message}`;
  }
  const built = registryFromStateFile(text);
  return built.isErr() ? `${path}: ${built.error.message}` : built.value;
}

async function serve(args: readonly string[]): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    {
      state: { type: "string" },
      listen: { type: "string", default: "127.0.0.1:51679" },
      "no-throttle": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
    HELP,
  );
  if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
  const { state, listen } = parsed.values;
  if (state === undefined) {
    console.error(`berth: --state is required\n\n${HELP}`);
    return 2;
  }
  const address = parseListen(listen);
  if (address === undefined) {
    console.error(`berth: --listen ${JSON.stringify(listen)} is not HOST:PORT (e.g. 127.0.0.1:51679)`);
    return 2;
  }
  const path = resolve(state);
  const first = await load(path);
  if (typeof first === "string") {
    console.error(`berth: ${first}`);
    return 1;
  }
  let current = first;
  const provider: MetadataProvider & CredentialsProvider = {
    lookup: (id) => current.lookup(id),
    credentials: (id) => current.credentials(id),
  };
  const started = await startMetadataServer({
    provider,
    credentials: provider,
    host: address.host,
    port: address.port,
    ...(parsed.values["no-throttle"] ? { throttle: false as const } : {}),
  });
  if (started.isErr()) {
    console.error(`berth: ${started.error.message}`);
    return 1;
  }
  await using server = started.value;
  console.log(`berth metadata: serving ${current.size} task(s) from ${path} on ${server.url}`);

  // Watch the directory: editors replace files (rename), which a watch on the file itself misses.
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    timer = undefined;
    void load(path).then((next) => {
      if (typeof next === "string") {
        console.error(`berth metadata: kept the previous state: ${next}`);
        return;
      }
      current = next;
      console.log(`berth metadata: reloaded ${path}: ${next.size} task(s)`);
    });
  };
  const watcher = watch(dirname(path), (_event, name) => {
    if (name !== null && name.toString() !== basename(path)) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(reload, 100);
  });
  // `on`, not `once`: Ctrl-C signals the whole process group, so a wrapper (pnpm, tsx) may relay a
  // second copy of the signal while the server is closing.
  let stop: () => void = () => {};
  const stopped = new Promise<void>((done) => {
    stop = done;
  });
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  await stopped;
  watcher.close();
  if (timer !== undefined) clearTimeout(timer);
  await server.close();
  // The handlers stay until the process exits: a relayed copy of the signal that arrives after the
  // close must not kill the process with 143 instead of letting it exit 0.
  console.log("berth metadata: stopped");
  return 0;
}

export const metadataCommand: Command = {
  summary: "serve ECS task metadata and credentials from a JSON state file (metadata serve --state FILE)",
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === "serve") return serve(rest);
    if (sub === "--help" || sub === "-h" || sub === "help") {
      console.log(HELP);
      return 0;
    }
    console.error(`berth: unknown metadata subcommand ${JSON.stringify(sub ?? "")}\n\n${HELP}`);
    return 2;
  },
};
