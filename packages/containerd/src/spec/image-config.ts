import { err, ok, Result } from "neverthrow";
import { ContainerdError } from "../errors.js";
import { editSpec, rootfsFor, type SpecOpt } from "./build.js";
import { DEFAULT_PATH_ENV } from "./defaults.js";
import { mergeEnv } from "./options.js";
import type { Spec } from "./types.js";
import { isUsableRootfs, resolveUser, supplementaryGroupsOf } from "./user.js";

/**
 * The runtime defaults of an image: the `config` object of its OCI image config JSON (the blob the
 * manifest's `config` descriptor points at). Keys are spelled as in the image spec.
 */
export interface ImageRuntimeConfig {
  /** User to run as: `user`, `uid`, `user:group`, `uid:gid`, ... */
  readonly User?: string;
  /** Default environment, `KEY=value`. */
  readonly Env?: readonly string[];
  /** Program and leading arguments. */
  readonly Entrypoint?: readonly string[];
  /** Default arguments (after the entrypoint). */
  readonly Cmd?: readonly string[];
  /** Working directory. */
  readonly WorkingDir?: string;
  /** Signal that stops the container gracefully, e.g. `SIGTERM`. */
  readonly StopSignal?: string;
  /** Image labels. */
  readonly Labels?: Readonly<Record<string, string>>;
}

function badConfig(message: string, cause?: unknown): ContainerdError {
  return new ContainerdError("InvalidArgument", `invalid image config: ${message}`, {
    resource: "image config",
    ...(cause === undefined ? {} : { cause }),
  });
}

function stringArray(value: unknown, field: string): Result<readonly string[] | undefined, ContainerdError> {
  if (value === undefined || value === null) return ok(undefined);
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    return err(badConfig(`config.${field} must be an array of strings`));
  }
  return ok(value as string[]);
}

/**
 * Reads the runtime defaults from an OCI image config: the blob's bytes or text, the parsed
 * document (`{ architecture, os, config: {...}, rootfs }`), or its `config` object itself.
 * Unknown fields are ignored; fields of the wrong type fail with `InvalidArgument`.
 */
export function parseImageConfig(input: Uint8Array | string | object): Result<ImageRuntimeConfig, ContainerdError> {
  let doc: unknown = input;
  if (typeof input === "string" || input instanceof Uint8Array) {
    const text = typeof input === "string" ? input : Buffer.from(input).toString("utf8");
    try {
      doc = JSON.parse(text);
    } catch (cause) {
      return err(badConfig("not JSON", cause));
    }
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return err(badConfig("not a JSON object"));
  const isWholeDocument = "rootfs" in doc || "os" in doc || "architecture" in doc || "config" in doc;
  const raw = isWholeDocument ? (doc as { config?: unknown }).config : doc;
  if (raw === undefined || raw === null) return ok({});
  if (typeof raw !== "object" || Array.isArray(raw)) return err(badConfig("config must be an object"));
  const c = raw as Record<string, unknown>;
  for (const field of ["User", "WorkingDir", "StopSignal"] as const) {
    if (c[field] !== undefined && c[field] !== null && typeof c[field] !== "string") {
      return err(badConfig(`config.${field} must be a string`));
    }
  }
  if (c.Labels !== undefined && c.Labels !== null) {
    const labels = c.Labels;
    if (
      typeof labels !== "object" ||
      Array.isArray(labels) ||
      !Object.values(labels).every((v) => typeof v === "string")
    ) {
      return err(badConfig("config.Labels must map strings to strings"));
    }
  }
  return Result.combine([
    stringArray(c.Env, "Env"),
    stringArray(c.Entrypoint, "Entrypoint"),
    stringArray(c.Cmd, "Cmd"),
  ]).map(([env, entrypoint, cmd]) => {
    const out: { -readonly [K in keyof ImageRuntimeConfig]: ImageRuntimeConfig[K] } = {};
    if (typeof c.User === "string" && c.User !== "") out.User = c.User;
    if (env !== undefined) out.Env = env;
    if (entrypoint !== undefined) out.Entrypoint = entrypoint;
    if (cmd !== undefined) out.Cmd = cmd;
    if (typeof c.WorkingDir === "string" && c.WorkingDir !== "") out.WorkingDir = c.WorkingDir;
    if (typeof c.StopSignal === "string" && c.StopSignal !== "") out.StopSignal = c.StopSignal;
    if (c.Labels !== undefined && c.Labels !== null) out.Labels = c.Labels as Record<string, string>;
    return out;
  });
}

/** How {@link withImageConfig} applies the image's defaults. */
export interface ImageConfigOptions {
  /** Arguments that replace the image's `Cmd` (the entrypoint stays), like `ctr run IMAGE ID ARGS...`. */
  readonly args?: readonly string[];
}

/**
 * Applies an image's runtime defaults as containerd's `WithImageConfig` does:
 * - env: the image's `Env` (or the default `PATH` when it has none), then the spec's own entries
 *   on top (so options applied earlier win over the image);
 * - args: `Entrypoint` + (`options.args` or `Cmd`);
 * - cwd: `WorkingDir`, or `/`;
 * - user: `User` resolved against the image's `/etc/passwd` and `/etc/group` (see {@link withUser}),
 *   which needs the context's `rootfs` unless it is numeric `uid:gid`. Without a `User`, the
 *   supplementary groups of root are read from `/etc/group` when a rootfs is known.
 *
 * Apply it before options that should override the image (args, user, cwd).
 */
export function withImageConfig(
  config: ImageRuntimeConfig | Uint8Array | string | object,
  options: ImageConfigOptions = {},
): SpecOpt {
  return (spec, context) => {
    const parsed = parseImageConfig(config);
    if (parsed.isErr()) return err(parsed.error);
    const ic = parsed.value;
    const next = editSpec(spec, (d) => {
      d.process ??= { user: { uid: 0, gid: 0 }, cwd: "/" };
      const p = d.process;
      const defaults = ic.Env && ic.Env.length > 0 ? ic.Env : [DEFAULT_PATH_ENV];
      p.env = mergeEnv(defaults, p.env ?? []);
      const cmd = options.args && options.args.length > 0 ? options.args : (ic.Cmd ?? []);
      p.args = [...(ic.Entrypoint ?? []), ...cmd];
      p.cwd = ic.WorkingDir ?? "/";
    });
    const rootfs = rootfsFor(next, context);
    if (ic.User !== undefined) {
      return resolveUser(rootfs, ic.User).map((u) => withResolvedUser(next, u));
    }
    if (!isUsableRootfs(rootfs)) return ok(next);
    const uid = next.process?.user.uid ?? 0;
    const gid = next.process?.user.gid ?? 0;
    return supplementaryGroupsOf(rootfs, "root").map((additionalGids) =>
      withResolvedUser(next, { uid, gid, additionalGids }),
    );
  };
}

function withResolvedUser(spec: Spec, user: { uid: number; gid: number; additionalGids?: number[] }): Spec {
  return editSpec(spec, (d) => {
    d.process ??= { user: { uid: 0, gid: 0 }, cwd: "/" };
    const umask = d.process.user.umask;
    const additional = user.additionalGids ?? [];
    d.process.user = {
      uid: user.uid,
      gid: user.gid,
      additionalGids: additional.includes(user.gid) ? additional : [user.gid, ...additional],
      ...(umask === undefined ? {} : { umask }),
    };
  });
}
