import { randomBytes } from "node:crypto";

/** A short unique name for a test resource, e.g. `berth-t-web-3f9a1c`. Valid as a containerd id and a netns name. */
export function uniqueName(prefix = "t"): string {
  return `berth-${prefix}-${randomBytes(4).toString("hex")}`;
}
