import { readFile } from "node:fs/promises";

/**
 * One nsfs mount from `/proc/self/mountinfo`: a namespace file bind-mounted somewhere (what `ip netns add`
 * creates). Its root field names the namespace, e.g. `net:[4026532176]`.
 *
 * @internal not re-exported from the package entry point.
 */
export interface NsfsMount {
  /** Device of the nsfs superblock, from the `major:minor` field. */
  readonly major: bigint;
  readonly minor: bigint;
  /** Namespace type from the root field: `net`, `uts`, `mnt`, ... */
  readonly nsType: string;
  /** Namespace inode number from the root field (equals the bind-mounted file's `st_ino`). */
  readonly ino: bigint;
  /** Where it is mounted, with mountinfo's octal escapes (`\040` for a space) decoded. */
  readonly mountPoint: string;
}

const NS_NAME = /^([a-z_]+):\[(\d+)\]$/;

/** Parses a namespace file's kernel name, `net:[4026531833]` (what readlink of /proc/PID/ns/net gives). */
export function parseNsName(text: string): { readonly nsType: string; readonly ino: bigint } | undefined {
  const m = NS_NAME.exec(text);
  return m?.[1] === undefined || m[2] === undefined ? undefined : { nsType: m[1], ino: BigInt(m[2]) };
}

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * The nsfs mounts in mountinfo text (see proc(5): `id parent major:minor root mountpoint options [optional...] -
 * fstype source superoptions`). Lines that are not nsfs mounts, or are malformed, are skipped.
 */
export function parseNsfsMounts(text: string): NsfsMount[] {
  const mounts: NsfsMount[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const separator = fields.indexOf("-", 6);
    if (separator < 0 || fields[separator + 1] !== "nsfs") continue;
    const dev = /^(\d+):(\d+)$/.exec(fields[2] ?? "");
    const ns = parseNsName(fields[3] ?? "");
    const mountPoint = fields[4];
    if (!dev?.[1] || !dev[2] || !ns || mountPoint === undefined) continue;
    mounts.push({
      major: BigInt(dev[1]),
      minor: BigInt(dev[2]),
      nsType: ns.nsType,
      ino: ns.ino,
      mountPoint: unescapeMountinfo(mountPoint),
    });
  }
  return mounts;
}

/** The nsfs mounts visible in this process's mount namespace. Rejects like `fs.readFile`. */
export async function readNsfsMounts(): Promise<NsfsMount[]> {
  return parseNsfsMounts(await readFile("/proc/self/mountinfo", "utf8"));
}

/**
 * Splits an `st_dev` as Node reports it (glibc's `makedev` encoding, which libuv uses) into major and minor.
 */
export function devMajorMinor(dev: bigint): { readonly major: bigint; readonly minor: bigint } {
  return {
    major: ((dev & 0xfff00n) >> 8n) | ((dev & 0xfffff00000000000n) >> 32n),
    minor: (dev & 0xffn) | ((dev & 0xffffff00000n) >> 12n),
  };
}
