import {
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

const HELP = `usage: pnpm berth pull REF [--platform P] [--plain-http] [--oci-layout DIR] [--concurrency N] [--json]

Pulls an image from its registry into an OCI image layout directory (readable by skopeo and umoci) and prints
the digest the reference resolved to. Progress bars on a terminal, plain lines otherwise.
  --platform     os/arch[/variant] to choose from an index (default: this host, e.g. linux/amd64)
  --plain-http   talk plain HTTP to REF's registry (only for a trusted local registry such as 127.0.0.1:5000)
  --oci-layout   the layout directory to write (created if missing; the image is named by REF's tag)
  --concurrency  blobs downloaded at once (default 4)
  --json         print one JSON object with the result instead of text
Credentials come from docker's config.json ($DOCKER_CONFIG or ~/.docker): auths and docker-credential-* helpers.
  --address/--namespace (pull into containerd) need the containerd target, which is not part of this build yet.`;

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
          bars.get(e.digest)?.update(e.bytes, { value_mb: mb(e.bytes), state: e.state });
          total?.update(e.completedBytes, { value_mb: mb(e.completedBytes) });
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
      }
    },
    stop: () => undefined,
  };
}

export const pullCommand: Command = {
  summary: "pull an image from a registry into an OCI image layout, with progress",
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      {
        platform: { type: "string" },
        "plain-http": { type: "boolean", default: false },
        "oci-layout": { type: "string" },
        address: { type: "string" },
        namespace: { type: "string" },
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
    if (values.address !== undefined || values.namespace !== undefined) {
      console.error(
        "berth: pulling into containerd (--address/--namespace) is not available yet; use --oci-layout DIR",
      );
      return 2;
    }
    const layout = values["oci-layout"];
    if (layout === undefined) {
      console.error(`berth: --oci-layout DIR is required\n\n${HELP}`);
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
    const controller = new AbortController();
    const onSignal = () => controller.abort(new Error("interrupted"));
    process.once("SIGINT", onSignal);
    const renderer = values.json ? undefined : progressRenderer(process.stdout.isTTY === true);
    const started = performance.now();
    const result = await pull(ref.value, {
      client,
      target: createOciLayoutTarget(layout),
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
