import { constants } from "node:fs";
import { lstat, open, readlink } from "node:fs/promises";
import { isAbsolute, join, posix } from "node:path";
import createDebug from "debug";
import { err, errAsync, ok, okAsync, type Result, ResultAsync } from "neverthrow";
import { ContainerdError } from "../errors.js";
import type { SpecUser } from "./types.js";

const debug = createDebug("berth:containerd:spec");

/** One entry of an `/etc/passwd` file. */
export interface PasswdEntry {
  /** Login name. */
  readonly name: string;
  /** User id. */
  readonly uid: number;
  /** Primary group id. */
  readonly gid: number;
  /** Home directory. */
  readonly home: string;
  /** Login shell. */
  readonly shell: string;
}

/** One entry of an `/etc/group` file. */
export interface GroupEntry {
  /** Group name. */
  readonly name: string;
  /** Group id. */
  readonly gid: number;
  /** User names listed as members. */
  readonly members: readonly string[];
}

/** Largest uid/gid containerd (and runc) accept: 2^31 - 1. */
export const MAX_ID = 2_147_483_647;

/** Largest `/etc/passwd` or `/etc/group` berth reads (as containerd: 10 MiB). */
const MAX_USER_FILE_BYTES = 10 * 1024 * 1024;
const MAX_SYMLINK_HOPS = 40;

function parseId(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return n <= MAX_ID ? n : undefined;
}

function dataLines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.replace(/\r$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#") && !l.startsWith("+") && !l.startsWith("-"));
}

/**
 * Parses `/etc/passwd` text (`name:password:uid:gid:gecos:home:shell`). Blank lines, comments and
 * NIS `+`/`-` lines are skipped, and so are malformed entries (an id that is not a number in
 * 0..2^31-1 is never read as 0, i.e. root). Missing trailing fields read as empty strings.
 */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of dataLines(text)) {
    const f = line.split(":");
    const name = f[0] ?? "";
    const uid = parseId(f[2] ?? "");
    const gid = parseId(f[3] ?? "");
    if (name === "" || uid === undefined || gid === undefined) continue;
    entries.push({ name, uid, gid, home: f[5] ?? "", shell: f[6] ?? "" });
  }
  return entries;
}

/**
 * Parses `/etc/group` text (`name:password:gid:member,member`). Blank lines, comments, NIS lines
 * and malformed entries are skipped; member names are trimmed and empty ones dropped.
 */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of dataLines(text)) {
    const f = line.split(":");
    const name = f[0] ?? "";
    const gid = parseId(f[2] ?? "");
    if (name === "" || gid === undefined) continue;
    const members = (f[3] ?? "")
      .split(",")
      .map((m) => m.trim())
      .filter((m) => m !== "");
    entries.push({ name, gid, members });
  }
  return entries;
}

function ioError(path: string, cause: unknown): ContainerdError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ContainerdError(
    "Unknown",
    `could not read ${path}: ${detail}; check that the container's root filesystem is mounted and readable`,
    { resource: path, cause },
  );
}

/**
 * A root filesystem read without mounting it: the directories of an overlay stack, top layer
 * first (an overlay mount's `upperdir`, then its `lowerdir` entries in order). A file is taken
 * from the topmost layer that has it; overlayfs whiteouts (0:0 character devices) and OCI
 * `.wh.<name>` files hide it in lower layers. Opaque directories (an xattr) are not detected.
 */
export interface LayeredRootfs {
  /** Layer directories, top first. */
  readonly layers: readonly string[];
}

/** Where to read the image's files: a directory (the mounted root filesystem) or an overlay stack. */
export type RootfsSource = string | LayeredRootfs;

type LStat = Awaited<ReturnType<typeof lstat>>;

function layersOf(root: RootfsSource): readonly string[] {
  return typeof root === "string" ? [root] : root.layers;
}

/** Whether every directory of `root` is an absolute path (and there is at least one). */
export function isUsableRootfs(root: RootfsSource | undefined): root is RootfsSource {
  if (root === undefined) return false;
  const layers = layersOf(root);
  return layers.length > 0 && layers.every((l) => isAbsolute(l));
}

function describeRoot(root: RootfsSource): string {
  return typeof root === "string" ? root : `overlay of ${root.layers.join(", ")}`;
}

async function lstatOrUndefined(path: string): Promise<LStat | undefined> {
  try {
    return await lstat(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw cause;
  }
}

/** The topmost entry for `parts` in the layer stack, or undefined when absent or whited out. */
async function lookup(
  layers: readonly string[],
  parts: readonly string[],
): Promise<{ path: string; st: LStat } | undefined> {
  const name = parts.at(-1) ?? "";
  for (const layer of layers) {
    const path = join(layer, ...parts);
    const st = await lstatOrUndefined(path);
    if (st !== undefined) {
      if (layers.length > 1 && st.isCharacterDevice() && st.rdev === 0) return undefined;
      return { path, st };
    }
    if (layers.length > 1 && (await lstatOrUndefined(join(layer, ...parts.slice(0, -1), `.wh.${name}`)))) {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Resolves `relative` (e.g. `etc/passwd`) inside `root`, following symlinks as if `root` were `/`:
 * absolute link targets and `..` never leave the root. Returns undefined when a component is missing.
 */
async function resolveInRoot(root: RootfsSource, relative: string): Promise<string | undefined> {
  const layers = layersOf(root);
  const pending = relative.split("/").filter((p) => p !== "" && p !== ".");
  const resolved: string[] = [];
  let found: string | undefined;
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "..") {
      resolved.pop();
      continue;
    }
    const entry = await lookup(layers, [...resolved, part]);
    if (entry === undefined) return undefined;
    if (entry.st.isSymbolicLink()) {
      hops += 1;
      if (hops > MAX_SYMLINK_HOPS) {
        throw Object.assign(new Error(`too many symlinks under ${describeRoot(root)}`), { code: "ELOOP" });
      }
      const target = await readlink(entry.path);
      if (posix.isAbsolute(target)) resolved.length = 0;
      pending.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
      continue;
    }
    resolved.push(part);
    found = entry.path;
  }
  return found ?? layers[0];
}

/**
 * Reads `relative` (e.g. `etc/passwd`) from a root filesystem (a directory or an overlay stack),
 * with symlinks resolved inside it. Ok(undefined) when the file does not exist; an error when it
 * is not a regular file, is larger than 10 MiB or cannot be read.
 */
export function readRootfsFile(root: RootfsSource, relative: string): ResultAsync<string | undefined, ContainerdError> {
  const display = typeof root === "string" ? join(root, relative) : `/${relative} in ${describeRoot(root)}`;
  return ResultAsync.fromPromise(
    (async () => {
      const path = await resolveInRoot(root, relative);
      if (path === undefined) return undefined;
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const st = await handle.stat();
        if (!st.isFile()) throw Object.assign(new Error(`${display} is not a regular file`), { code: "EINVAL" });
        if (st.size > MAX_USER_FILE_BYTES) {
          throw Object.assign(new Error(`${display} is larger than ${MAX_USER_FILE_BYTES} bytes`), { code: "EFBIG" });
        }
        return await handle.readFile({ encoding: "utf8" });
      } finally {
        await handle.close();
      }
    })(),
    (cause) => ioError(display, cause),
  );
}

/** A mount as containerd's snapshotters return it (`Snapshots.Mounts`). */
export interface SnapshotMount {
  /** `bind`, `overlay`, ... */
  readonly type: string;
  /** Source path (the directory, for a bind mount). */
  readonly source: string;
  /** Mount options, e.g. `lowerdir=/a:/b`, `upperdir=/u`, `ro`, `rbind`. */
  readonly options: readonly string[];
}

/**
 * Turns a snapshot's mounts into a root filesystem berth can read without mounting: a bind
 * mount gives its source directory, an overlay mount its layers (upperdir, then lowerdirs).
 * Other mount types (block devices, erofs, ...) fail with `InvalidArgument`: mount them and pass
 * the directory instead.
 */
export function rootfsFromMounts(mounts: readonly SnapshotMount[]): Result<RootfsSource, ContainerdError> {
  const unsupported = (why: string) =>
    err(
      new ContainerdError("InvalidArgument", `cannot read the root filesystem without mounting it: ${why}`, {
        resource: "rootfs mounts",
      }),
    );
  if (mounts.length !== 1) return unsupported(`expected one mount, got ${mounts.length}`);
  const m = mounts[0] as SnapshotMount;
  if (m.type === "bind" || m.options.includes("bind") || m.options.includes("rbind")) {
    return isAbsolute(m.source) ? ok(m.source) : unsupported(`bind source ${JSON.stringify(m.source)} is not absolute`);
  }
  if (m.type === "overlay") {
    const option = (key: string) => m.options.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
    const upper = option("upperdir");
    const lower = (option("lowerdir") ?? "").split(":").filter((d) => d !== "");
    const layers = [...(upper ? [upper] : []), ...lower];
    if (layers.length === 0 || !layers.every((l) => isAbsolute(l))) {
      return unsupported("the overlay mount has no absolute upperdir/lowerdir");
    }
    return ok({ layers });
  }
  return unsupported(`a ${JSON.stringify(m.type)} mount needs mounting; mount it and pass its directory`);
}

/** The image's user database, read from a root filesystem. A missing file reads as undefined. */
interface UserDatabase {
  readonly root: RootfsSource;
  readonly passwd: readonly PasswdEntry[] | undefined;
  readonly group: readonly GroupEntry[] | undefined;
}

function loadUserDatabase(root: RootfsSource): ResultAsync<UserDatabase, ContainerdError> {
  return ResultAsync.combine([readRootfsFile(root, "etc/passwd"), readRootfsFile(root, "etc/group")]).map(
    ([passwd, group]) => ({
      root,
      passwd: passwd === undefined ? undefined : parsePasswd(passwd),
      group: group === undefined ? undefined : parseGroup(group),
    }),
  );
}

function notFound(what: string, name: string, file: string, root: RootfsSource): ContainerdError {
  return new ContainerdError(
    "NotFound",
    `${what} ${JSON.stringify(name)} is not in the image's /${file} (rootfs ${describeRoot(root)}): use a name the image defines, ` +
      "or numeric ids (e.g. 65534:65534)",
    { resource: `${what} ${JSON.stringify(name)}` },
  );
}

function badUser(userstr: string, why: string): ContainerdError {
  return new ContainerdError(
    "InvalidArgument",
    `invalid user ${JSON.stringify(userstr)}: ${why}; use user, uid, user:group, uid:gid, uid:group or user:gid`,
    { resource: `user ${JSON.stringify(userstr)}` },
  );
}

/** A user or group given by numeric id or by name. */
export type IdOrName = { readonly id: number } | { readonly name: string };

function parseUserPart(userstr: string, part: string, kind: "uid" | "gid"): Result<IdOrName, ContainerdError> {
  if (part === "") return err(badUser(userstr, `empty ${kind === "uid" ? "user" : "group"}`));
  if (/^\d+$/.test(part)) {
    const n = Number(part);
    if (n > MAX_ID) return err(badUser(userstr, `${kind} out of range (0..${MAX_ID})`));
    return ok({ id: n });
  }
  if (/^-\d+$/.test(part)) return err(badUser(userstr, `${kind} out of range (0..${MAX_ID})`));
  return ok({ name: part });
}

/** A user string parsed per the OCI image spec's `config.User` syntax. */
export interface ParsedUserString {
  /** The user part: a numeric id or a name. */
  readonly user: IdOrName;
  /** The group part, when given. */
  readonly group: IdOrName | undefined;
}

/**
 * Parses a user string as the OCI image spec defines `config.User`: `user`, `uid`, `user:group`,
 * `uid:gid`, `uid:group` or `user:gid`. Ids must be in 0..2^31-1 (runc's limit).
 */
export function parseUserString(userstr: string): Result<ParsedUserString, ContainerdError> {
  const parts = userstr.split(":");
  if (parts.length > 2) return err(badUser(userstr, "more than one ':'"));
  const [u, g] = parts as [string, string | undefined];
  return parseUserPart(userstr, u, "uid").andThen((user) =>
    g === undefined
      ? ok({ user, group: undefined })
      : parseUserPart(userstr, g, "gid").map((group) => ({ user, group })),
  );
}

function supplementaryGids(db: UserDatabase, username: string | undefined): number[] {
  if (username === undefined || db.group === undefined) return [];
  return db.group.filter((g) => g.name !== username && g.members.includes(username)).map((g) => g.gid);
}

function withPrimaryFirst(gid: number, additional: readonly number[]): number[] {
  return additional.includes(gid) ? [...additional] : [gid, ...additional];
}

/**
 * Resolves a user string against the image's `/etc/passwd` and `/etc/group` under `rootfs`, as
 * containerd's `WithUser` + `WithAdditionalGIDs` do:
 * - `uid`: the passwd entry with that uid gives the gid; without one (or without the file), gid 0;
 * - `name`: must exist in `/etc/passwd` (else `NotFound`); gives uid and gid;
 * - `a:b`: each part numeric or a name (names must exist in passwd / group, else `NotFound`);
 * - `additionalGids`: the primary gid first, then every group that lists the user as a member
 *   (except a group named like the user).
 *
 * Numeric `uid:gid` needs no files: `rootfs` may then be undefined.
 */
export function resolveUser(rootfs: RootfsSource | undefined, userstr: string): ResultAsync<SpecUser, ContainerdError> {
  const parsed = parseUserString(userstr);
  if (parsed.isErr()) return errAsync(parsed.error);
  const { user, group } = parsed.value;
  if (!isUsableRootfs(rootfs)) {
    if ("id" in user && group !== undefined && "id" in group) {
      return okAsync({ uid: user.id, gid: group.id, additionalGids: [group.id] });
    }
    return errAsync(
      new ContainerdError(
        "InvalidArgument",
        `user ${JSON.stringify(userstr)} needs the image's /etc/passwd, but no root filesystem path is known: ` +
          "pass `rootfs` (the mounted snapshot's absolute path) in the spec context, or use numeric uid:gid",
        { resource: `user ${JSON.stringify(userstr)}` },
      ),
    );
  }
  return loadUserDatabase(rootfs).andThen((db) => {
    debug("resolving user %s in %s", userstr, describeRoot(rootfs));
    let uid: number;
    let gid: number;
    let username: string | undefined;
    if ("name" in user) {
      const entry = db.passwd?.find((e) => e.name === user.name);
      if (entry === undefined) return err(notFound("user", user.name, "etc/passwd", rootfs));
      uid = entry.uid;
      gid = entry.gid;
      username = entry.name;
    } else {
      const entry = db.passwd?.find((e) => e.uid === user.id);
      uid = user.id;
      gid = entry?.gid ?? 0;
      username = entry?.name;
    }
    if (group !== undefined) {
      if ("name" in group) {
        const entry = db.group?.find((e) => e.name === group.name);
        if (entry === undefined) return err(notFound("group", group.name, "etc/group", rootfs));
        gid = entry.gid;
      } else {
        gid = group.id;
      }
    }
    return ok({ uid, gid, additionalGids: withPrimaryFirst(gid, supplementaryGids(db, username)) });
  });
}

/**
 * Resolves group names or numeric gids (for extra supplementary groups) against the image's
 * `/etc/group` under `rootfs`. A name the file does not define gives `NotFound`.
 */
export function resolveGroups(
  rootfs: RootfsSource | undefined,
  groups: readonly string[],
): ResultAsync<number[], ContainerdError> {
  const numeric: number[] = [];
  for (const g of groups) {
    if (!/^\d+$/.test(g)) continue;
    const n = Number(g);
    if (n > MAX_ID) {
      return errAsync(
        new ContainerdError("InvalidArgument", `gid ${g} is out of range (0..${MAX_ID})`, {
          resource: `group ${g}`,
        }),
      );
    }
    numeric.push(n);
  }
  if (numeric.length === groups.length) return okAsync(numeric);
  if (!isUsableRootfs(rootfs)) {
    return errAsync(
      new ContainerdError(
        "InvalidArgument",
        `groups ${JSON.stringify(groups)} need the image's /etc/group, but no root filesystem path is known: ` +
          "pass `rootfs` in the spec context, or use numeric gids",
        { resource: "groups" },
      ),
    );
  }
  return readRootfsFile(rootfs, "etc/group").andThen((text) => {
    const db = text === undefined ? [] : parseGroup(text);
    const gids: number[] = [];
    for (const g of groups) {
      if (/^\d+$/.test(g)) {
        gids.push(Number(g));
        continue;
      }
      const entry = db.find((e) => e.name === g);
      if (entry === undefined) return err(notFound("group", g, "etc/group", rootfs));
      gids.push(entry.gid);
    }
    return ok(gids);
  });
}

/**
 * The gids of the groups in the image's `/etc/group` (under `rootfs`) that list `username` as a
 * member, except a group named like the user: containerd's `WithAdditionalGIDs(username)` without
 * the primary gid. Missing files give an empty list.
 */
export function supplementaryGroupsOf(rootfs: RootfsSource, username: string): ResultAsync<number[], ContainerdError> {
  return readRootfsFile(rootfs, "etc/group").map((text) =>
    text === undefined ? [] : supplementaryGids({ root: rootfs, passwd: undefined, group: parseGroup(text) }, username),
  );
}
