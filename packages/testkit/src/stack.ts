import { existsSync, readFileSync } from "node:fs";

/** Where `scripts/stack up` writes its environment unless STACK_DIR says otherwise. */
export const DEFAULT_STACK_DIR = "/tmp/berth-stack";

/** One containerd daemon of the test stack. */
export interface StackDaemon {
  /** `containerd-1.6` (Debian 12's) or `containerd-2.1` (unpacked privately). */
  readonly name: string;
  readonly address: string;
  /** The matching `ctr` binary, for peers and cross-checks. */
  readonly ctr: string;
  readonly version: string;
  readonly snapshotter: string;
}

/** What `scripts/stack up` started, read from its env file. */
export interface Stack {
  readonly dir: string;
  readonly daemons: readonly StackDaemon[];
  /** `host:port` of the loopback registry (plain HTTP). */
  readonly registry: string;
  /** CNI plugin directory of Debian 12 (spec <= 1.0) and of the 1.9 plugins (spec 1.1). */
  readonly cniPath: string;
  readonly cni2Path: string | undefined;
  /** OCI layout of the deterministic busybox test image. */
  readonly testImageLayout: string | undefined;
  readonly testImageRef: string | undefined;
  readonly env: Readonly<Record<string, string>>;
}

/** Parses `export K=V` lines (the stack's env file). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m?.[1]) continue;
    let value = (m[2] ?? "").trim();
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    out[m[1]] = value;
  }
  return out;
}

/** The env file path: `$BERTH_STACK_ENV`, else `$STACK_DIR/env`, else the default stack dir's. */
export function stackEnvPath(): string {
  return process.env.BERTH_STACK_ENV ?? `${process.env.STACK_DIR ?? DEFAULT_STACK_DIR}/env`;
}

/** Why the stack is not usable here, or undefined when it is. */
export function stackUnavailableReason(): string | undefined {
  if (process.platform !== "linux") return "integration tests need Linux";
  if (process.getuid?.() !== 0) return "integration tests need root (containerd, network namespaces, CNI)";
  const path = stackEnvPath();
  if (!existsSync(path)) return `no stack env file at ${path}`;
  const env = parseEnvFile(readFileSync(path, "utf8"));
  if (!env.CONTAINERD_ADDRESS || !existsSync(env.CONTAINERD_ADDRESS)) {
    return `the stack's containerd socket (${env.CONTAINERD_ADDRESS ?? "unset"}) is missing: is the stack up?`;
  }
  return undefined;
}

/** How to bring the stack up, for skip messages. */
export const HOW_TO_RUN =
  "run them as root after `bash scripts/stack up` (or run the whole suite with `bash scripts/test`)";

let cached: Stack | undefined;

/** The running stack, or undefined when it is not available (the caller skips). */
export function stack(): Stack | undefined {
  if (cached) return cached;
  if (stackUnavailableReason() !== undefined) return undefined;
  const env = parseEnvFile(readFileSync(stackEnvPath(), "utf8"));
  const daemons: StackDaemon[] = [];
  const need = (k: string) => {
    const v = env[k];
    if (v === undefined || v === "") throw new Error(`stack env file ${stackEnvPath()} lacks ${k}`);
    return v;
  };
  daemons.push({
    name: "containerd-1.6",
    address: need("CONTAINERD_ADDRESS"),
    ctr: env.CTR ?? "ctr",
    version: env.CONTAINERD_VERSION ?? "",
    snapshotter: env.CONTAINERD_SNAPSHOTTER ?? "overlayfs",
  });
  if (env.CONTAINERD2_ADDRESS) {
    daemons.push({
      name: "containerd-2.1",
      address: env.CONTAINERD2_ADDRESS,
      ctr: need("CTR2"),
      version: env.CONTAINERD2_VERSION ?? "",
      snapshotter: env.CONTAINERD2_SNAPSHOTTER ?? env.CONTAINERD_SNAPSHOTTER ?? "overlayfs",
    });
  }
  cached = {
    dir: need("STACK_DIR"),
    daemons,
    registry: need("REGISTRY"),
    cniPath: env.CNI_PATH ?? "/usr/lib/cni",
    cni2Path: env.CNI2_PATH || undefined,
    testImageLayout: env.TEST_IMAGE_LAYOUT || undefined,
    testImageRef: env.TEST_IMAGE_REF || undefined,
    env,
  };
  return cached;
}
