import { execFile } from "node:child_process";
import createDebug from "debug";
import { err, errAsync, ok, type Result, ResultAsync } from "neverthrow";
import type { DockerNetworkStats } from "./docker-stats.js";
import { MetadataError } from "./errors.js";

const log = createDebug("berth:metadata:stats");

/**
 * Parses the text of `/proc/net/dev` into Docker's per-interface counters. Interfaces named in
 * `exclude` (default `lo`) are left out, as Docker and the ECS agent report only the task's
 * interfaces. Fails with `InvalidInput` when the text is not in the kernel's format.
 */
export function parseProcNetDev(
  text: string,
  exclude: readonly string[] = ["lo"],
): Result<Record<string, DockerNetworkStats>, MetadataError> {
  const lines = text.split("\n");
  if (lines.length < 2 || !/\|\s*bytes/.test(lines[1] ?? "")) {
    return err(
      new MetadataError("InvalidInput", "not the contents of /proc/net/dev (no 'Inter-|' header)", { field: "text" }),
    );
  }
  const out: Record<string, DockerNetworkStats> = {};
  for (const line of lines.slice(2)) {
    if (line.trim() === "") continue;
    const colon = line.indexOf(":");
    if (colon < 0) {
      return err(new MetadataError("InvalidInput", `malformed /proc/net/dev line: ${JSON.stringify(line)}`));
    }
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (fields.length < 16 || fields.some((f) => !Number.isSafeInteger(f) || f < 0)) {
      return err(new MetadataError("InvalidInput", `malformed /proc/net/dev line: ${JSON.stringify(line)}`));
    }
    if (exclude.includes(name)) continue;
    const f = (i: number) => fields[i] ?? 0;
    out[name] = {
      rx_bytes: f(0),
      rx_packets: f(1),
      rx_errors: f(2),
      rx_dropped: f(3),
      tx_bytes: f(8),
      tx_packets: f(9),
      tx_errors: f(10),
      tx_dropped: f(11),
    };
  }
  return ok(out);
}

/** Which network namespace to read: a name under /run/netns (`ip netns exec`) or an nsfs path (`nsenter --net=`). */
export type NetnsRef = { readonly name: string } | { readonly path: string };

/** Options of {@link readNetnsCounters}. */
export interface ReadNetnsCountersOptions {
  /** Interfaces to leave out (default `["lo"]`). */
  readonly exclude?: readonly string[];
  /** Give up after this many milliseconds (default 5000). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** The `ip` binary (default `ip` from PATH). */
  readonly ipPath?: string;
  /** The `nsenter` binary (default `nsenter` from PATH). */
  readonly nsenterPath?: string;
}

const NETNS_NAME = /^[A-Za-z0-9._-]{1,255}$/;

/**
 * Reads the interface counters of a network namespace by running `ip netns exec NAME cat
 * /proc/net/dev` (for a name) or `nsenter --net=PATH cat /proc/net/dev` (for a path); needs
 * CAP_SYS_ADMIN. Fails with `InvalidInput` for a malformed name/path and `ProviderFailed` when the
 * command fails (no such namespace, no permission, timeout).
 */
export function readNetnsCounters(
  netns: NetnsRef,
  options: ReadNetnsCountersOptions = {},
): ResultAsync<Record<string, DockerNetworkStats>, MetadataError> {
  let file: string;
  let args: string[];
  if ("name" in netns) {
    if (!NETNS_NAME.test(netns.name) || netns.name === "." || netns.name === "..") {
      return errAsync(
        new MetadataError("InvalidInput", "netns name must be 1-255 characters of letters, digits and ._-", {
          field: "netns.name",
        }),
      );
    }
    file = options.ipPath ?? "ip";
    args = ["netns", "exec", netns.name, "cat", "/proc/net/dev"];
  } else {
    if (typeof netns.path !== "string" || !netns.path.startsWith("/")) {
      return errAsync(
        new MetadataError("InvalidInput", "netns path must be absolute, e.g. /run/netns/task-1 or /proc/PID/ns/net", {
          field: "netns.path",
        }),
      );
    }
    file = options.nsenterPath ?? "nsenter";
    args = [`--net=${netns.path}`, "cat", "/proc/net/dev"];
  }
  const started = Date.now();
  const run = new Promise<Result<string, MetadataError>>((resolve) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMs ?? 5000,
        maxBuffer: 1024 * 1024,
        encoding: "utf8",
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      (error, stdout, stderr) => {
        log("%s %s: %s in %dms", file, args.join(" "), error ? "failed" : "ok", Date.now() - started);
        if (error) {
          resolve(
            err(
              new MetadataError(
                "ProviderFailed",
                `could not read /proc/net/dev in network namespace ${JSON.stringify(netns)}: ${stderr.trim() || error.message}; ` +
                  "check that the namespace exists and that this process has CAP_SYS_ADMIN",
                { cause: error },
              ),
            ),
          );
        } else resolve(ok(stdout));
      },
    );
  });
  return new ResultAsync(run).andThen((text) => parseProcNetDev(text, options.exclude));
}
