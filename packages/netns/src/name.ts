import { join, resolve } from "node:path";
import { err, ok, type Result } from "neverthrow";
import { NetnsError } from "./errors.js";

/** Where iproute2 (`ip netns add`) and berth keep named network namespaces. `/var/run/netns` is the same place. */
export const DEFAULT_NETNS_DIR = "/run/netns";

/** The longest file name Linux accepts (NAME_MAX), in bytes. A namespace name is a file name in the netns directory. */
export const NETNS_NAME_MAX = 255;

/**
 * Checks a namespace name against iproute2's rules (`ip netns add` refuses the same names): not empty, no `/`,
 * not `.` or `..`, at most {@link NETNS_NAME_MAX} bytes of UTF-8, and no NUL byte (it could not be a file name).
 */
export function validateNetnsName(name: string): Result<string, NetnsError> {
  const invalid = (why: string) =>
    err(
      new NetnsError(
        "InvalidName",
        `invalid network namespace name ${JSON.stringify(name)}: ${why} ` +
          `(use a plain file name such as "task-1", as \`ip netns add\` does)`,
      ),
    );
  if (name.length === 0) return invalid("it is empty");
  if (name.includes("/")) return invalid("it contains '/'");
  if (name === "." || name === "..") return invalid("'.' and '..' are not allowed");
  if (name.includes("\0")) return invalid("it contains a NUL byte");
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > NETNS_NAME_MAX) return invalid(`it is ${bytes} bytes long; the limit is ${NETNS_NAME_MAX}`);
  return ok(name);
}

/**
 * The file of the named namespace: `/run/netns/NAME` by default, or `NAME` inside `dir` (made absolute).
 * Fails with `InvalidName` when the name breaks {@link validateNetnsName}'s rules.
 */
export function netnsPath(name: string, dir: string = DEFAULT_NETNS_DIR): Result<string, NetnsError> {
  return validateNetnsName(name).map((valid) => join(resolve(dir), valid));
}
