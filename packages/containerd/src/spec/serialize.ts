import { err, ok, type Result } from "neverthrow";
import { ContainerdError } from "../errors.js";
import type { LinuxResources, Spec, SpecProcess } from "./types.js";

/**
 * A protobuf `Any` as containerd's API carries it: a type URL and the encoded value. containerd's
 * type URLs are bare names (no `type.googleapis.com/` prefix).
 */
export interface AnyMessage {
  /** What `value` holds, e.g. {@link SPEC_TYPE_URL} or `containerd.runc.v1.Options`. */
  readonly typeUrl: string;
  /** The encoded value: JSON for runtime-spec types, protobuf for proto messages. */
  readonly value: Uint8Array;
}

/**
 * An {@link AnyMessage} whose value is a Node `Buffer`: what berth's packing functions return, and
 * what the generated gRPC messages take as is.
 */
export interface BufferAny extends AnyMessage {
  /** The encoded value. */
  readonly value: Buffer;
}

/** Views any {@link AnyMessage} as a {@link BufferAny} (no copy when the value is already a Buffer). */
export function toBufferAny(any: AnyMessage): BufferAny {
  const value = Buffer.isBuffer(any.value)
    ? any.value
    : Buffer.from(any.value.buffer, any.value.byteOffset, any.value.byteLength);
  return { typeUrl: any.typeUrl, value };
}

/** Type URL of a runtime spec in `Container.spec` (containerd registers it with typeurl for runtime-spec major 1). */
export const SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

/** Type URL of a process spec in `ExecProcessRequest.spec`. */
export const PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/** Type URL of cgroup resources in `UpdateTaskRequest.resources`. */
export const LINUX_RESOURCES_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

function jsonAny(typeUrl: string, value: unknown): BufferAny {
  return { typeUrl, value: Buffer.from(JSON.stringify(value), "utf8") };
}

/** Packs a spec as containerd stores it on a container: JSON in an Any with {@link SPEC_TYPE_URL}. */
export function specAny(spec: Spec): BufferAny {
  return jsonAny(SPEC_TYPE_URL, spec);
}

/** Packs a process spec for an exec (`Tasks.Exec`): JSON in an Any with {@link PROCESS_TYPE_URL}. */
export function processAny(process: SpecProcess): BufferAny {
  return jsonAny(PROCESS_TYPE_URL, process);
}

/** Packs cgroup resources for `Tasks.Update`: JSON in an Any with {@link LINUX_RESOURCES_TYPE_URL}. */
export function linuxResourcesAny(resources: LinuxResources): BufferAny {
  return jsonAny(LINUX_RESOURCES_TYPE_URL, resources);
}

function unpackJson(any: AnyMessage, typeUrl: string, what: string): Result<unknown, ContainerdError> {
  if (any.typeUrl !== typeUrl) {
    return err(
      new ContainerdError(
        "InvalidArgument",
        `expected a ${what} (type URL ${typeUrl}) but got ${JSON.stringify(any.typeUrl)}`,
        { resource: what },
      ),
    );
  }
  try {
    const value: unknown = JSON.parse(Buffer.from(any.value).toString("utf8"));
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return err(new ContainerdError("InvalidArgument", `the ${what} JSON is not an object`, { resource: what }));
    }
    return ok(value);
  } catch (cause) {
    return err(new ContainerdError("InvalidArgument", `the ${what} is not valid JSON`, { resource: what, cause }));
  }
}

/**
 * Unpacks a spec from a container's `spec` Any (as {@link specAny} packs it, or as containerd's Go
 * client does). Checks the type URL and that the JSON is an object with an `ociVersion`; other
 * fields are taken as they are.
 */
export function parseSpecAny(any: AnyMessage): Result<Spec, ContainerdError> {
  return unpackJson(any, SPEC_TYPE_URL, "runtime spec").andThen((value) => {
    if (typeof (value as { ociVersion?: unknown }).ociVersion !== "string") {
      return err(
        new ContainerdError("InvalidArgument", "the runtime spec has no ociVersion", { resource: "runtime spec" }),
      );
    }
    return ok(value as Spec);
  });
}

/** Unpacks a process spec from an exec's Any (as {@link processAny} packs it). */
export function parseProcessAny(any: AnyMessage): Result<SpecProcess, ContainerdError> {
  return unpackJson(any, PROCESS_TYPE_URL, "process spec").andThen((value) => {
    const p = value as Partial<SpecProcess>;
    if (typeof p.cwd !== "string" || typeof p.user !== "object" || p.user === null) {
      return err(
        new ContainerdError("InvalidArgument", "the process spec lacks cwd or user", { resource: "process spec" }),
      );
    }
    return ok(value as SpecProcess);
  });
}
