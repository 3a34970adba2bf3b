import createDebug from "debug";
import { err, errAsync, ok, type Result, ResultAsync } from "neverthrow";
import { ContainerdError } from "../errors.js";
import { validateIdentifier } from "../identifiers.js";
import { defaultSpec } from "./defaults.js";
import type { Spec } from "./types.js";
import type { RootfsSource } from "./user.js";

const debug = createDebug("berth:containerd:spec");

/** What options may need to know about the container they shape. */
export interface SpecContext {
  /** containerd namespace of the container (used for the cgroup path). */
  readonly namespace: string;
  /** Container id (used for the cgroup path). */
  readonly id: string;
  /**
   * The container's root filesystem, read by options that resolve user and group names from the
   * image's `/etc/passwd` and `/etc/group`: the host path of the mounted snapshot, or its overlay
   * layers unmounted (see {@link rootfsFromMounts}). When unset, those options use `root.path` if
   * it is absolute, as containerd does.
   */
  readonly rootfs?: RootfsSource;
  /** Cancels options that read files. */
  readonly signal?: AbortSignal;
}

/** What a {@link SpecOpt} returns: the new spec, or a (possibly asynchronous) `Result` of it. */
export type SpecOptResult = Spec | Result<Spec, ContainerdError> | PromiseLike<Result<Spec, ContainerdError>>;

/**
 * One change to a spec. Options never modify the spec they are given: they return a new one
 * (or an error). Apply them in order with {@link buildSpec} or {@link applySpecOpts}.
 */
export type SpecOpt = (spec: Spec, context: SpecContext) => SpecOptResult;

function isResult(value: SpecOptResult): value is Result<Spec, ContainerdError> {
  return typeof (value as { isOk?: unknown }).isOk === "function";
}

function isPromiseLike(value: SpecOptResult): value is PromiseLike<Result<Spec, ContainerdError>> {
  return typeof (value as { then?: unknown }).then === "function";
}

async function run(spec: Spec, context: SpecContext, opts: readonly SpecOpt[]): Promise<Result<Spec, ContainerdError>> {
  let current = spec;
  for (const opt of opts) {
    if (context.signal?.aborted) {
      return err(
        new ContainerdError("Canceled", "building the spec was canceled by its AbortSignal", {
          resource: `container ${JSON.stringify(context.id)}`,
          cause: context.signal.reason,
        }),
      );
    }
    let out: SpecOptResult;
    try {
      out = opt(current, context);
    } catch (cause) {
      return err(unexpected(context, cause));
    }
    let result: Result<Spec, ContainerdError> | Spec;
    try {
      result = isPromiseLike(out) ? await out : out;
    } catch (cause) {
      return err(unexpected(context, cause));
    }
    if (isResult(result)) {
      if (result.isErr()) return err(result.error);
      current = result.value;
    } else {
      current = result;
    }
  }
  return ok(current);
}

function unexpected(context: SpecContext, cause: unknown): ContainerdError {
  if (ContainerdError.is(cause)) return cause;
  return new ContainerdError(
    "Unknown",
    `a spec option for container ${JSON.stringify(context.id)} threw: ${cause instanceof Error ? cause.message : String(cause)}; ` +
      "options should return an error Result instead of throwing",
    { resource: `container ${JSON.stringify(context.id)}`, cause },
  );
}

/**
 * Builds a spec: containerd's default Linux spec for the container ({@link defaultSpec}), then each
 * option in order. Fails with `InvalidArgument` for a bad namespace or id, or with the first
 * option's error.
 *
 * @example
 * ```ts
 * const spec = await buildSpec(
 *   { namespace: "agent", id: "web", rootfs: "/run/agent/web/rootfs" },
 *   withImageConfig(imageConfigJson),
 *   withUser("nobody"),
 *   withHostname("web"),
 *   withMemoryLimit(512 * 1024 * 1024),
 * );
 * ```
 */
export function buildSpec(context: SpecContext, ...opts: SpecOpt[]): ResultAsync<Spec, ContainerdError> {
  const checked = validateIdentifier("namespace", context.namespace).andThen(() =>
    validateIdentifier("container id", context.id),
  );
  if (checked.isErr()) return errAsync(checked.error);
  debug("building spec for %s/%s with %d options", context.namespace, context.id, opts.length);
  return applySpecOpts(defaultSpec(context), context, ...opts);
}

/** Applies options in order to an existing spec (which is not modified) and returns the result. */
export function applySpecOpts(
  spec: Spec,
  context: SpecContext,
  ...opts: SpecOpt[]
): ResultAsync<Spec, ContainerdError> {
  return new ResultAsync(run(spec, context, opts));
}

/** Combines options into one that applies them in order. */
export function composeSpecOpts(...opts: SpecOpt[]): SpecOpt {
  return (spec, context) => new ResultAsync(run(spec, context, opts));
}

// Specs are plain JSON data: a recursive copy is several times faster than structuredClone.
function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = cloneJson(v);
    return out as T;
  }
  return value;
}

/** Copies `spec`, lets `edit` change the copy, returns the copy: the shape of every synchronous option. */
export function editSpec(spec: Spec, edit: (draft: Spec) => void): Spec {
  const draft = cloneJson(spec);
  edit(draft);
  return draft;
}

/**
 * The host path of the root filesystem options read files from: the context's `rootfs`, else
 * `root.path` when it is absolute (containerd's rule); undefined when neither is known.
 */
export function rootfsFor(spec: Spec, context: SpecContext): RootfsSource | undefined {
  if (context.rootfs !== undefined) return context.rootfs;
  const path = spec.root?.path;
  return path?.startsWith("/") ? path : undefined;
}

/** The `InvalidArgument` error options return for bad input. */
export function invalidOption(option: string, message: string): ContainerdError {
  return new ContainerdError("InvalidArgument", `${option}: ${message}`, { resource: `spec option ${option}` });
}
