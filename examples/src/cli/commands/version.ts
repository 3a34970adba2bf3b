import { createRequire } from "node:module";
import { createContainerd } from "@berth/containerd";
import { type Command, parseCommandArgs } from "../command.js";

const HELP = `usage: pnpm berth version [--address ADDRESS] [--namespace NS] [--timeout MS] [--json]

Prints berth's version and the containerd server's version, like \`ctr version\`.
  --address    containerd socket (default $CONTAINERD_ADDRESS, then /run/containerd/containerd.sock)
  --namespace  containerd namespace (default $CONTAINERD_NAMESPACE, then "default")
  --timeout    deadline for the call in milliseconds (default 10000)
  --json       print one JSON object instead of text`;

const require = createRequire(import.meta.url);

export const versionCommand: Command = {
  summary: "print berth's version and the containerd server's version",
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      {
        address: { type: "string" },
        namespace: { type: "string" },
        timeout: { type: "string", default: "10000" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
      HELP,
    );
    if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
    const { address, namespace, timeout, json } = parsed.values;
    const berth = (require("@berth/containerd/package.json") as { version: string }).version;
    const created = createContainerd({
      ...(address === undefined ? {} : { address }),
      ...(namespace === undefined ? {} : { namespace }),
      timeoutMs: Number(timeout),
    });
    if (created.isErr()) {
      console.error(`berth: ${created.error.message}`);
      return 2;
    }
    await using client = created.value;
    const server = await client.version();
    if (server.isErr()) {
      if (json)
        console.log(JSON.stringify({ berth, error: { code: server.error.code, message: server.error.message } }));
      else console.error(`berth ${berth}\nberth: ${server.error.message}`);
      return 1;
    }
    const { version, revision } = server.value;
    if (json) {
      console.log(JSON.stringify({ berth, containerd: { address: client.endpoint.target, version, revision } }));
    } else {
      console.log(`Client:\n  berth       ${berth}\n  Node.js     ${process.version}`);
      console.log(
        `Server:\n  containerd  ${version}\n  Revision    ${revision}\n  Address     ${client.endpoint.target}`,
      );
    }
    return 0;
  },
};
