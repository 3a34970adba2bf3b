import { pipeline } from "node:stream/promises";
import { createContainerd, removeContainer, runContainer, type StdioChoice } from "@berth/containerd";
import { type Command, parseCommandArgs } from "../command.js";

const HELP = `usage: pnpm berth run [--address A] [--namespace N] [--netns PATH] [--log-uri URI] [--rm]
                      [--id ID] [--snapshotter NAME] [--runtime NAME] [--stdin] IMAGE [--] [CMD...]

Runs CMD (default: the image's entrypoint and cmd) in IMAGE, which must already be in containerd
(see \`pnpm berth import\`), streams its output and exits with its exit code, like \`ctr run\`.
  --address      containerd socket (default $CONTAINERD_ADDRESS, then /run/containerd/containerd.sock)
  --namespace    containerd namespace (default $CONTAINERD_NAMESPACE, then "default")
  --netns        join this network namespace (e.g. /var/run/netns/NAME)
  --log-uri      send stdout and stderr to a log URI (file:///path, binary:///path?k=v) instead
  --rm           remove the container and its snapshot after it exits
  --id           container id (default: random)
  --snapshotter  snapshotter for the rootfs (default overlayfs)
  --runtime      runtime (shim) name (default io.containerd.runc.v2)
  --stdin        forward this process's stdin to the container`;

const VALUE_OPTIONS = new Set([
  "--address",
  "--namespace",
  "--netns",
  "--log-uri",
  "--id",
  "--snapshotter",
  "--runtime",
]);

/** Splits `[options] IMAGE [--] [CMD...]`: options end at the first positional (IMAGE). */
export function splitRunArgs(args: readonly string[]): {
  options: string[];
  image: string | undefined;
  command: string[];
} {
  let i = 0;
  const options: string[] = [];
  while (i < args.length) {
    const a = args[i] as string;
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-")) break;
    options.push(a);
    if (VALUE_OPTIONS.has(a) && i + 1 < args.length) options.push(args[++i] as string);
    i++;
  }
  const image = args[i];
  const rest = args.slice(i + 1);
  return { options, image, command: rest[0] === "--" ? rest.slice(1) : rest };
}

export const runCommand: Command = {
  summary: "run a command in an image already in containerd (like ctr run)",
  async run(args) {
    const split = splitRunArgs(args);
    const parsed = parseCommandArgs(
      split.options,
      {
        address: { type: "string" },
        namespace: { type: "string" },
        netns: { type: "string" },
        "log-uri": { type: "string" },
        rm: { type: "boolean", default: false },
        id: { type: "string" },
        snapshotter: { type: "string", default: "overlayfs" },
        runtime: { type: "string" },
        stdin: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
      HELP,
    );
    if (!parsed) return split.options.includes("--help") || split.options.includes("-h") ? 0 : 2;
    const v = parsed.values;
    if (split.image === undefined) {
      console.error(`berth: run needs an IMAGE\n\n${HELP}`);
      return 2;
    }
    const created = createContainerd({
      ...(v.address === undefined ? {} : { address: v.address }),
      ...(v.namespace === undefined ? {} : { namespace: v.namespace }),
      timeoutMs: 60_000,
    });
    if (created.isErr()) {
      console.error(`berth: ${created.error.message}`);
      return 2;
    }
    await using client = created.value;
    const stdio: StdioChoice =
      v["log-uri"] !== undefined ? { kind: "log", uri: v["log-uri"] } : { kind: "pipe", stdin: v.stdin };
    const started = await runContainer(client, {
      image: split.image,
      args: split.command,
      stdio,
      snapshotter: v.snapshotter,
      ...(v.id === undefined ? {} : { id: v.id }),
      ...(v.netns === undefined ? {} : { netns: v.netns }),
      ...(v.runtime === undefined ? {} : { runtime: { name: v.runtime } }),
    });
    if (started.isErr()) {
      console.error(`berth: ${started.error.message}`);
      return 1;
    }
    const c = started.value;
    const forward = (signal: NodeJS.Signals) => void c.kill(signal, true);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    const copies: Promise<void>[] = [];
    if (c.io?.stdout) copies.push(pipeline(c.io.stdout, process.stdout, { end: false }));
    if (c.io?.stderr) copies.push(pipeline(c.io.stderr, process.stderr, { end: false }));
    if (c.io?.stdin) process.stdin.pipe(c.io.stdin);
    const exited = await c.exited;
    await Promise.allSettled(copies);
    process.stdin.unpipe();
    process.stdin.pause();
    process.off("SIGINT", forward);
    process.off("SIGTERM", forward);
    // Like `ctr run`: the task is always deleted; --rm also removes the container and its snapshot.
    const teardown = v.rm
      ? await removeContainer(client, c.id, { snapshotter: v.snapshotter, ...(c.io ? { io: c.io } : {}) })
      : await client.tasks.delete(c.id);
    await c.io?.close();
    if (teardown.isErr()) console.error(`berth: cleaning up ${c.id}: ${teardown.error.message}`);
    if (exited.isErr()) {
      console.error(`berth: waiting for ${c.id}: ${exited.error.message}`);
      return 1;
    }
    return exited.value.exitStatus;
  },
};
