import { err, ok, type Result } from "neverthrow";
import { ContainerdError } from "../errors.js";
import { Options as RuncOptionsMessage } from "../gen/containerd/runc/options/oci.js";
import { type AnyMessage, type BufferAny, toBufferAny } from "./serialize.js";

/** containerd's runc shim (v2 shim API); the runtime containerd uses by default. */
export const RUNC_V2_RUNTIME = "io.containerd.runc.v2";

/** Type URL of {@link RuncOptions} in `Container.runtime.options` and `CreateTaskRequest.options`. */
export const RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options";

/** Options of the runc shim (`containerd.runc.v1.Options`). All optional; unset means runc's default. */
export interface RuncOptions {
  /** runc binary to run: a name looked up in PATH or an absolute path (e.g. `crun`). */
  readonly binaryName?: string;
  /** runc's `--root` state directory. */
  readonly root?: string;
  /** Use the systemd cgroup driver (then the cgroup path reads `slice:prefix:name`). */
  readonly systemdCgroup?: boolean;
  /** Use MS_MOVE + chroot instead of pivot_root (needed on a ramdisk root). */
  readonly noPivotRoot?: boolean;
  /** Do not create a new session keyring for the container. */
  readonly noNewKeyring?: boolean;
  /** cgroup to place the shim in. */
  readonly shimCgroup?: string;
  /** Owner uid of the stdio pipes. */
  readonly ioUid?: number;
  /** Owner gid of the stdio pipes. */
  readonly ioGid?: number;
  /** Where criu writes checkpoint images. */
  readonly criuImagePath?: string;
  /** Where criu writes its work files. */
  readonly criuWorkPath?: string;
}

/** The runc shim, with typed options. */
export interface RuncRuntimeConfig {
  /** `io.containerd.runc.v2`. */
  readonly name: typeof RUNC_V2_RUNTIME;
  /** runc options; none means runc's defaults. */
  readonly options?: RuncOptions;
}

/**
 * Any other shim (a VM-based runtime such as Kata's `io.containerd.kata.v2` or
 * firecracker-containerd's `aws.firecracker`), with its options already packed as an Any.
 */
export interface ShimRuntimeConfig {
  /** Runtime name (`io.containerd.<name>.v<N>`) or, on containerd 2.x, an absolute shim path. */
  readonly name: string;
  /** The shim's options, packed (type URL + encoded bytes). */
  readonly options?: AnyMessage;
}

/** Which shim runs a container, and its options. */
export type RuntimeConfig = RuncRuntimeConfig | ShimRuntimeConfig;

/** A runtime choice as `Container.runtime` carries it. */
export interface EncodedRuntime {
  /** Runtime name. */
  readonly name: string;
  /** Packed options, when there are any. */
  readonly options: BufferAny | undefined;
}

const UINT32_MAX = 0xffff_ffff;

function isAny(value: unknown): value is AnyMessage {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { typeUrl?: unknown }).typeUrl === "string" &&
    (value as { value?: unknown }).value instanceof Uint8Array
  );
}

function invalidRuntime(message: string): ContainerdError {
  return new ContainerdError("InvalidArgument", message, { resource: "runtime" });
}

/** Encodes runc options as the Any containerd expects (`containerd.runc.v1.Options`, protobuf). */
export function runcOptionsAny(options: RuncOptions): Result<BufferAny, ContainerdError> {
  for (const key of ["ioUid", "ioGid"] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > UINT32_MAX)) {
      return err(invalidRuntime(`runc option ${key} must be a uint32, got ${v}`));
    }
  }
  const message = RuncOptionsMessage.fromPartial({
    binaryName: options.binaryName ?? "",
    root: options.root ?? "",
    systemdCgroup: options.systemdCgroup ?? false,
    noPivotRoot: options.noPivotRoot ?? false,
    noNewKeyring: options.noNewKeyring ?? false,
    shimCgroup: options.shimCgroup ?? "",
    ioUid: options.ioUid ?? 0,
    ioGid: options.ioGid ?? 0,
    criuImagePath: options.criuImagePath ?? "",
    criuWorkPath: options.criuWorkPath ?? "",
  });
  return ok({ typeUrl: RUNC_OPTIONS_TYPE_URL, value: Buffer.from(RuncOptionsMessage.encode(message).finish()) });
}

/** Decodes runc options from their Any (e.g. from a container read back from containerd). */
export function parseRuncOptionsAny(any: AnyMessage): Result<RuncOptions, ContainerdError> {
  if (any.typeUrl !== RUNC_OPTIONS_TYPE_URL) {
    return err(invalidRuntime(`expected ${RUNC_OPTIONS_TYPE_URL} but got ${JSON.stringify(any.typeUrl)}`));
  }
  let m: RuncOptionsMessage;
  try {
    m = RuncOptionsMessage.decode(any.value);
  } catch (cause) {
    return err(
      new ContainerdError("InvalidArgument", "runc options are not a valid protobuf message", {
        resource: "runtime",
        cause,
      }),
    );
  }
  const out: { -readonly [K in keyof RuncOptions]: RuncOptions[K] } = {};
  if (m.binaryName !== "") out.binaryName = m.binaryName;
  if (m.root !== "") out.root = m.root;
  if (m.systemdCgroup) out.systemdCgroup = true;
  if (m.noPivotRoot) out.noPivotRoot = true;
  if (m.noNewKeyring) out.noNewKeyring = true;
  if (m.shimCgroup !== "") out.shimCgroup = m.shimCgroup;
  if (m.ioUid !== 0) out.ioUid = m.ioUid;
  if (m.ioGid !== 0) out.ioGid = m.ioGid;
  if (m.criuImagePath !== "") out.criuImagePath = m.criuImagePath;
  if (m.criuWorkPath !== "") out.criuWorkPath = m.criuWorkPath;
  return ok(out);
}

/**
 * Turns a runtime choice into what `Container.runtime` (and `CreateTaskRequest.options`) carry:
 * the name and the packed options. runc options are encoded here; another shim's options pass
 * through. An empty name or runc given pre-packed options of another type fail with `InvalidArgument`.
 */
export function encodeRuntime(config: RuntimeConfig): Result<EncodedRuntime, ContainerdError> {
  if (config.name.trim() === "") {
    return err(
      invalidRuntime(`runtime name must not be empty: use ${JSON.stringify(RUNC_V2_RUNTIME)} or a shim's name`),
    );
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(config.name) && !config.name.startsWith("/")) {
    return err(
      invalidRuntime(
        `runtime ${JSON.stringify(config.name)} is neither a shim name (io.containerd.<name>.v<N>) nor an absolute shim path`,
      ),
    );
  }
  const options = config.options;
  if (options === undefined) return ok({ name: config.name, options: undefined });
  if (isAny(options)) {
    if (config.name === RUNC_V2_RUNTIME && options.typeUrl !== RUNC_OPTIONS_TYPE_URL) {
      return err(invalidRuntime(`runc options must have type URL ${RUNC_OPTIONS_TYPE_URL}, got ${options.typeUrl}`));
    }
    return ok({ name: config.name, options: toBufferAny(options) });
  }
  if (config.name !== RUNC_V2_RUNTIME) {
    return err(
      invalidRuntime(
        `typed runc options were given for runtime ${JSON.stringify(config.name)}: pack them as an Any instead`,
      ),
    );
  }
  return runcOptionsAny(options as RuncOptions).map((any) => ({ name: config.name, options: any }));
}

/**
 * Reads a runtime choice back from `Container.runtime`: runc's options decoded into
 * {@link RuncOptions}, any other shim's options kept packed. Fails only on undecodable runc options.
 */
export function decodeRuntime(name: string, options: AnyMessage | undefined): Result<RuntimeConfig, ContainerdError> {
  if (name === RUNC_V2_RUNTIME && (options === undefined || options.typeUrl === RUNC_OPTIONS_TYPE_URL)) {
    if (options === undefined) return ok({ name: RUNC_V2_RUNTIME });
    return parseRuncOptionsAny(options).map((parsed) => ({ name: RUNC_V2_RUNTIME, options: parsed }));
  }
  return ok(options === undefined ? { name } : { name, options: toBufferAny(options) });
}
