import { createContainerd, importImage } from "@berth/containerd";
import { type Command, parseCommandArgs } from "../command.js";

const HELP = `usage: pnpm berth import [--address A] [--namespace N] [--name NAME] [--snapshotter S] [--no-unpack]
                         OCI_LAYOUT_DIR_OR_TAR

Imports the images of an OCI image layout (a directory or an uncompressed tar of one) into
containerd through its content, images, snapshots and diff services (no ctr), unpacking the
host platform's layers so \`pnpm berth run\` can start them.
  --address      containerd socket (default $CONTAINERD_ADDRESS, then /run/containerd/containerd.sock)
  --namespace    containerd namespace (default $CONTAINERD_NAMESPACE, then "default")
  --name         image name for index.json entries without an io.containerd.image.name annotation
  --snapshotter  unpack into this snapshotter (default overlayfs)
  --no-unpack    only store the blobs and the image record`;

export const importCommand: Command = {
  summary: "import an OCI image layout (dir or tar) into containerd, no ctr",
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      {
        address: { type: "string" },
        namespace: { type: "string" },
        name: { type: "string" },
        snapshotter: { type: "string", default: "overlayfs" },
        "no-unpack": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
      HELP,
    );
    if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
    const v = parsed.values;
    const [source, ...extra] = parsed.positionals;
    if (source === undefined || extra.length > 0) {
      console.error(`berth: import needs exactly one OCI_LAYOUT_DIR_OR_TAR\n\n${HELP}`);
      return 2;
    }
    const created = createContainerd({
      ...(v.address === undefined ? {} : { address: v.address }),
      ...(v.namespace === undefined ? {} : { namespace: v.namespace }),
      timeoutMs: 120_000,
    });
    if (created.isErr()) {
      console.error(`berth: ${created.error.message}`);
      return 2;
    }
    await using client = created.value;
    const imported = await importImage(client, source, {
      snapshotter: v.snapshotter,
      unpack: !v["no-unpack"],
      ...(v.name === undefined ? {} : { name: v.name }),
    });
    if (imported.isErr()) {
      console.error(`berth: ${imported.error.message}`);
      return 1;
    }
    for (const i of imported.value) {
      console.log(`${i.name}\t${i.target.digest}${i.chainId ? `\tunpacked (${i.snapshotter})` : ""}`);
    }
    return 0;
  },
};
