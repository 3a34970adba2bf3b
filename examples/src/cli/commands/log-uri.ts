import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  buildBerthLoggerUri,
  buildShimLoggerUri,
  formatLogUri,
  type LogShimError,
  type LogUriArg,
  parseBerthLoggerUri,
  parseLogUri,
  parseShimLoggerUri,
  SHIM_LOGGER_DRIVERS,
} from "@berth/log-shim";
import { type Command, parseCommandArgs } from "../command.js";

const SHIM_LOGGERS_BINARY = "/usr/local/bin/shim-loggers-for-containerd";

const HELP = `usage: pnpm berth log-uri DRIVER [--opt KEY=VALUE ...] [--binary PATH]
       pnpm berth log-uri --parse URI

Prints the containerd log URI (for \`ctr run --log-uri\` or a task's stdio) of a logger configuration, or with
--parse the configuration a URI carries, as JSON. Every option is checked the way the logger checks it.

DRIVER
  awslogs, fluentd, splunk, json-file   AWS's shim-loggers-for-containerd (--log-driver DRIVER); KEYs are its
                                        flag names, e.g. --opt container-id=c1 --opt container-name=web
                                        --opt awslogs-group=/ecs/web --opt fluentd-async=false
  berth-logger                          berth's own logger (this package's bin); KEYs are its flags, e.g.
                                        --opt driver=json-file --opt log-path=/var/log/c.log --opt max-size=10m
  file                                  containerd writes the file itself: --opt path=/var/log/c.log

  --opt      KEY=VALUE, repeatable (KEY without leading dashes)
  --binary   the logger's absolute path (default: ${SHIM_LOGGERS_BINARY}, or the installed berth-logger)
  --parse    read URI instead and print its configuration as JSON`;

const require = createRequire(import.meta.url);

/** The installed package's berth-logger script (package.json "bin"). */
function installedBerthLogger(): string {
  const pkg = require.resolve("@berth/log-shim/package.json");
  const bin = (require(pkg) as { bin: Record<string, string> }).bin["berth-logger"] ?? "dist/bin/berth-logger.cjs";
  return join(dirname(pkg), bin);
}

function parseOpts(opts: readonly string[]): Array<readonly [string, string]> | string {
  const out: Array<readonly [string, string]> = [];
  for (const o of opts) {
    const eq = o.indexOf("=");
    if (eq <= 0) return `--opt ${JSON.stringify(o)} is not KEY=VALUE`;
    out.push([o.slice(0, eq).replace(/^--?/, ""), o.slice(eq + 1)]);
  }
  return out;
}

// Options go in as `--key=value` keys (the logger's own joined form), are read back by the typed parser (which
// applies every rule), and the typed options are built again: what is printed is the canonical URI.
function build(driver: string, opts: Array<readonly [string, string]>, binary: string | undefined) {
  const args: LogUriArg[] = opts.map(([k, v]) => [`--${k}=${v}`, ""]);
  if ((SHIM_LOGGER_DRIVERS as readonly string[]).includes(driver)) {
    const path = binary ?? SHIM_LOGGERS_BINARY;
    return formatLogUri({ scheme: "binary", path, args: [["--log-driver", driver], ...args] })
      .andThen(parseShimLoggerUri)
      .andThen((p) => buildShimLoggerUri(p.binaryPath, p.options));
  }
  if (driver === "berth-logger") {
    const path = binary ?? installedBerthLogger();
    return formatLogUri({ scheme: "binary", path, args })
      .andThen(parseBerthLoggerUri)
      .andThen((p) => buildBerthLoggerUri(p.binaryPath, p.options));
  }
  const extra = opts.filter(([k]) => k !== "path");
  if (extra.length > 0) return `a file:// URI takes only --opt path=..., not ${extra.map(([k]) => k).join(", ")}`;
  return formatLogUri({ scheme: "file", path: opts.find(([k]) => k === "path")?.[1] ?? "" });
}

function describeUri(uri: string): { value: object } | { error: LogShimError } {
  const u = parseLogUri(uri);
  if (u.isErr()) return { error: u.error };
  if (u.value.scheme === "file") return { value: { scheme: "file", path: u.value.path } };
  const berth = u.value.args.some(([k]) => k === "--driver" || k.startsWith("--driver="));
  const p = berth
    ? parseBerthLoggerUri(uri).map((x) => ({ logger: "berth-logger", ...x }))
    : parseShimLoggerUri(uri).map((x) => ({ logger: "shim-loggers-for-containerd", ...x }));
  return p.isErr() ? { error: p.error } : { value: p.value };
}

function fail(e: LogShimError): number {
  console.error(`berth: ${e.message}${e.allowed ? ` (allowed: ${e.allowed.join(", ")})` : ""} [${e.code}]`);
  return 1;
}

export const logUriCommand: Command = {
  summary: "print a containerd log URI for a logger config, or parse one (--parse)",
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      {
        opt: { type: "string", multiple: true },
        binary: { type: "string" },
        parse: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      HELP,
    );
    if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
    const { opt, binary, parse } = parsed.values;
    if (parse !== undefined) {
      if (parsed.positionals.length > 0 || opt !== undefined || binary !== undefined) {
        console.error(`berth: --parse takes only the URI\n\n${HELP}`);
        return 2;
      }
      const described = describeUri(parse);
      if ("error" in described) return fail(described.error);
      console.log(JSON.stringify(described.value, null, 2));
      return 0;
    }
    const [driver, ...extra] = parsed.positionals;
    const known = [...SHIM_LOGGER_DRIVERS, "berth-logger", "file"];
    if (driver === undefined || extra.length > 0 || !known.includes(driver)) {
      console.error(
        `berth: ${driver === undefined ? "give a DRIVER" : `unknown DRIVER ${JSON.stringify(driver)}`}; ` +
          `use one of ${known.join(", ")}\n\n${HELP}`,
      );
      return 2;
    }
    const opts = parseOpts(opt ?? []);
    if (typeof opts === "string") {
      console.error(`berth: ${opts}\n\n${HELP}`);
      return 2;
    }
    const uri = build(driver, opts, binary);
    if (typeof uri === "string") {
      console.error(`berth: ${uri}`);
      return 2;
    }
    if (uri.isErr()) return fail(uri.error);
    console.log(uri.value);
    return 0;
  },
};
