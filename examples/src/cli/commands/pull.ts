import { type Containerd, createContainerd } from "@berth/containerd";
import {
  createContainerdTarget,
  createOciLayoutTarget,
  createRegistryClient,
  dockerConfigCredentials,
  type PullProgress,
  parsePlatform,
  parseReference,
  pull,
} from "@berth/image";
import cliProgress from "cli-progress";
import { type Command, parseCommandArgs } from "../command.js";

const HELP = `usage: pnpm berth pull REF [--platform P] [--plain-http] [--concurrency N] [--json]
                       (--oci-layout DIR | --address A [--namespace N] [--snapshotter S] [--transfer])

Pulls an image from its registry into an OCI image layout directory (readable by skopeo and umoci) or into
containerd (content, unpacked snapshots and the image record, ready for \`ctr run\`), and prints the digest the
reference resolved to. Progress bars on a terminal, plain lines otherwise.
  --platform     os/arch[/variant] to choose from an index (default: this host, e.g. linux/amd64)
  --plain-http   talk plain HTTP to REF's registry (only for a trusted local registry such as 127.0.0.1:5000)
  --oci-layout   the layout directory to write (created if missing; the image is named by REF's tag)
  --address      containerd's socket (e.g. /run/containerd/containerd.sock): pull into containerd
  --namespace    containerd namespace (default: $CONTAINERD_NAMESPACE, then "default")
  --snapshotter  snapshotter to unpack into (default overlayfs)
  --transfer     let containerd 2.x's Transfer service do the pull (the daemon fetches and unpacks; no per-layer
                 progress; anonymous registries only); containerd 1.x falls back to berth's own pull
  --concurrency  blobs downloaded at once (default 4)
  --json         print one JSON object with the result instead of text
Credentials come from docker's config.json ($DOCKER_CONFIG or ~/.docker): auths and docker-credential-* helpers.
An interrupted pull into containerd keeps its partial content under a lease (24 h): pulling again resumes it.`;

const mb = (n: number) => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`);

/** Renders progress: cli-progress bars on a TTY, one line per blob state change (and every 10%) otherwise. */
function progressRenderer(tty: boolean): { onProgress: (e: PullProgress) => void; stop: () => void } {
  if (tty) {
    const multibar = new cliProgress.MultiBar(
      {
        format: " {name} |{bar}| {percentage}% {value_mb}/{total_mb} {state}",
        hideCursor: true,
        clearOnComplete: false,
        fps: 10,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    const bars = new Map<string, cliProgress.SingleBar>();
    const unpacking = new Set<string>();
    let total: cliProgress.SingleBar | undefined;
    return {
      onProgress(e) {
        if (e.type === "plan") {
          for (const b of e.blobs) {
            const bar = multibar.create(b.descriptor.size, b.state === "waiting" ? 0 : b.descriptor.size, {
              name: `${b.kind === "config" ? "config" : "layer "} ${b.descriptor.digest.slice(7, 19)}`,
              value_mb: mb(0),
              total_mb: mb(b.descriptor.size),
              state: b.state,
            });
            bars.set(b.descriptor.digest, bar);
          }
          total = multibar.create(Math.max(1, e.totalBytes), 0, {
            name: "total              ",
            value_mb: mb(0),
            total_mb: mb(e.totalBytes),
            state: "",
          });
        } else if (e.type === "blob") {
          // Once fetched, a layer's bar shows its unpack state instead (set by the unpack events below).
          if (e.state !== "done" || !unpacking.has(e.digest)) {
            bars.get(e.digest)?.update(e.bytes, { value_mb: mb(e.bytes), state: e.state });
          } else bars.get(e.digest)?.update(e.bytes, { value_mb: mb(e.bytes) });
          total?.update(e.completedBytes, { value_mb: mb(e.completedBytes) });
        } else if (e.type === "unpack") {
          if (e.state !== "waiting") unpacking.add(e.digest);
          const state = e.state === "unpacked" ? `unpacked in ${(e.ms ?? 0) / 1000}s` : e.state;
          if (e.state !== "waiting") bars.get(e.digest)?.update({ state });
        } else if (e.type === "delegated") {
          total?.update({ state: `pulled by ${e.target}'s Transfer service` });
        }
      },
      stop: () => multibar.stop(),
    };
  }
  let nextPercent = 10;
  return {
    onProgress(e) {
      if (e.type === "phase") console.log(`phase ${e.phase}`);
      else if (e.type === "resolved")
        console.log(`resolved ${e.digest} (${e.mediaType}); manifest ${e.manifest.digest}`);
      else if (e.type === "plan") {
        console.log(`plan ${e.blobs.length} blobs, ${mb(e.totalBytes)} to fetch`);
      } else if (e.type === "blob") {
        if (e.state !== "fetching" || e.bytes === 0) console.log(`${e.state} ${e.digest} ${mb(e.bytes)}/${mb(e.size)}`);
        const pct = e.totalBytes > 0 ? (100 * e.completedBytes) / e.totalBytes : 100;
        while (pct >= nextPercent && nextPercent <= 100) {
          console.log(`progress ${nextPercent}% ${mb(e.completedBytes)}/${mb(e.totalBytes)}`);
          nextPercent += 10;
        }
      } else if (e.type === "unpack" && e.state !== "waiting") {
        const took = e.state === "unpacked" ? ` in ${((e.ms ?? 0) / 1000).toFixed(2)}s` : "";
        console.log(`${e.state} layer ${e.index} ${e.digest}${took}`);
      } else if (e.type === "delegated") {
        console.log(`pulled by ${e.target} (containerd's Transfer service)`);
      }
    },
    stop: () => undefined,
  };
}

export const pullCommand: Command = {
  summary: "pull an image from a registry into an OCI image layout or containerd, with progress",
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      {
        platform: { type: "string" },
        "plain-http": { type: "boolean", default: false },
        "oci-layout": { type: "string" },
        address: { type: "string" },
        namespace: { type: "string" },
        snapshotter: { type: "string" },
        transfer: { type: "boolean", default: false },
        concurrency: { type: "string", default: "4" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
      HELP,
    );
    if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
    const { values, positionals } = parsed;
    if (positionals.length !== 1 || positionals[0] === undefined) {
      console.error(`berth: pull takes exactly one image reference\n\n${HELP}`);
      return 2;
    }
    const layout = values["oci-layout"];
    const address = values.address;
    if ((layout === undefined) === (address === undefined)) {
      console.error(
        `berth: give exactly one destination: --oci-layout DIR or --address SOCKET (containerd)\n\n${HELP}`,
      );
      return 2;
    }
    if (
      address === undefined &&
      (values.namespace !== undefined || values.snapshotter !== undefined || values.transfer === true)
    ) {
      console.error("berth: --namespace, --snapshotter and --transfer apply to containerd: add --address SOCKET");
      return 2;
    }
    const ref = parseReference(positionals[0]);
    if (ref.isErr()) {
      console.error(`berth: ${ref.error.message}`);
      return 2;
    }
    const platformResult = values.platform === undefined ? undefined : parsePlatform(values.platform);
    if (platformResult?.isErr()) {
      console.error(`berth: ${platformResult.error.message}`);
      return 2;
    }
    const platform = platformResult?.isOk() ? platformResult.value : undefined;
    const concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      console.error(`berth: --concurrency must be a positive integer, got ${JSON.stringify(values.concurrency)}`);
      return 2;
    }
    await using client = createRegistryClient({
      credentials: dockerConfigCredentials(),
      ...(values["plain-http"] ? { registries: { [ref.value.registry]: { plainHttp: true } } } : {}),
    });
    let ctd: Containerd | undefined;
    if (address !== undefined) {
      const created = createContainerd({
        address,
        ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
      });
      if (created.isErr()) {
        console.error(`berth: ${created.error.message}`);
        return 2;
      }
      ctd = created.value;
    }
    await using _containerd = ctd;
    const target = ctd
      ? createContainerdTarget(ctd, {
          ...(values.snapshotter !== undefined ? { snapshotter: values.snapshotter } : {}),
          ...(values.transfer ? { transfer: { plainHttp: values["plain-http"] === true } } : {}),
        })
      : createOciLayoutTarget(layout as string);
    const controller = new AbortController();
    const onSignal = () => controller.abort(new Error("interrupted"));
    process.once("SIGINT", onSignal);
    const renderer = values.json ? undefined : progressRenderer(process.stdout.isTTY === true);
    const started = performance.now();
    const result = await pull(ref.value, {
      client,
      target,
      concurrency,
      signal: controller.signal,
      ...(platform ? { platform } : {}),
      ...(renderer ? { onProgress: renderer.onProgress } : {}),
    });
    renderer?.stop();
    process.removeListener("SIGINT", onSignal);
    const seconds = (performance.now() - started) / 1000;
    if (result.isErr()) {
      if (values.json)
        console.log(JSON.stringify({ error: { code: result.error.code, message: result.error.message } }));
      else console.error(`berth: ${result.error.message}`);
      if (ctd && "leaseId" in target && target.leaseId !== undefined && !values.json) {
        console.error(`berth: partial content kept under lease ${target.leaseId}; pulling again resumes it`);
      }
      return 1;
    }
    const r = result.value;
    if (values.json) {
      console.log(
        JSON.stringify({
          name: r.name,
          digest: r.digest,
          manifest: r.manifest.digest,
          platform: r.platform,
          layers: r.layers.length,
          fetchedBytes: r.fetchedBytes,
          delegated: r.delegated,
          target: target.name,
          seconds,
        }),
      );
    } else {
      console.log(`${r.name}: pulled ${r.layers.length} layers, ${mb(r.fetchedBytes)} in ${seconds.toFixed(2)}s`);
      console.log(`digest: ${r.digest}`);
      if (r.manifest.digest !== r.digest)
        console.log(
          `manifest: ${r.manifest.digest} (${[r.platform.os, r.platform.architecture, r.platform.variant].filter(Boolean).join("/")})`,
        );
    }
    return 0;
  },
};
