import { isAbsolute } from "node:path";
import { err, ok, type Result } from "neverthrow";
import { ContainerdError } from "./errors.js";

/** The socket containerd listens on when nothing else is configured. */
export const DEFAULT_CONTAINERD_ADDRESS = "/run/containerd/containerd.sock";

/** Where a containerd endpoint lives, parsed from an address string. */
export type ContainerdEndpoint =
  | { readonly kind: "unix"; readonly path: string; readonly target: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number; readonly target: string };

/**
 * Parses a containerd address the way `ctr --address` accepts it: an absolute socket path,
 * `unix:///abs/path.sock`, or `tcp://host:port` (plain TCP without TLS, for completeness).
 */
export function parseAddress(address: string): Result<ContainerdEndpoint, ContainerdError> {
  const invalid = (why: string) =>
    err(
      new ContainerdError(
        "InvalidArgument",
        `invalid containerd address ${JSON.stringify(address)}: ${why} ` +
          `(use an absolute socket path, unix:///path/to/containerd.sock or tcp://host:port)`,
        { resource: "address" },
      ),
    );
  if (address.startsWith("unix://")) {
    const path = address.slice("unix://".length);
    if (!isAbsolute(path)) return invalid("the unix socket path must be absolute");
    return ok({ kind: "unix", path, target: `unix://${path}` });
  }
  if (address.startsWith("tcp://")) {
    const rest = address.slice("tcp://".length);
    const match = /^(\[[^\]]+\]|[^:/]+):(\d{1,5})$/.exec(rest);
    const port = match ? Number(match[2]) : Number.NaN;
    if (!match?.[1] || !(port > 0 && port < 65536)) return invalid("expected tcp://host:port");
    return ok({ kind: "tcp", host: match[1], port, target: `${match[1]}:${port}` });
  }
  if (isAbsolute(address)) return ok({ kind: "unix", path: address, target: `unix://${address}` });
  return invalid("unknown scheme");
}
