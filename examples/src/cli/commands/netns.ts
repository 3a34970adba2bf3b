import { constants } from "node:os";
import {
  createNetns,
  deleteNetns,
  formatNetnsIdentity,
  listNetns,
  type NetnsError,
  spawnInNetns,
  sweepNetns,
} from "@berth/netns";
import { type Command, parseCommandArgs } from "../command.js";

const HELP = `usage: pnpm berth netns <subcommand> [options]

Persistent network namespaces, interoperable with \`ip netns\` (needs root).
  add NAME [--lo] [--nameserver IP]... [--hostname NAME]
                      create /run/netns/NAME (kept after this command ends); --lo brings lo up;
                      --nameserver/--hostname write /etc/netns/NAME/{resolv.conf,hostname}
  rm NAME [--force]   delete it (idempotent); --force also deletes namespaces berth did not create
  ls                  list the namespaces (stale entries are marked)
  exec NAME -- CMD [ARGS...]
                      run CMD inside with this terminal's stdio; exits with CMD's exit code
  sweep               remove namespaces whose berth owner process is gone
Options for all: --dir DIR (default /run/netns), --json (add, rm, ls, sweep), --timeout MS (exec)`;

function fail(error: NetnsError, json: boolean): number {
  if (json) console.log(JSON.stringify({ error: { code: error.code, message: error.message } }));
  else console.error(`berth: ${error.code}: ${error.message}`);
  return 1;
}

export const netnsCommand: Command = {
  summary: "create, list, enter, delete and sweep network namespaces (add|rm|ls|exec|sweep)",
  async run(args) {
    const dashes = args.indexOf("--");
    const own = dashes < 0 ? args : args.slice(0, dashes);
    const command = dashes < 0 ? [] : args.slice(dashes + 1);
    const parsed = parseCommandArgs(
      own,
      {
        dir: { type: "string" },
        json: { type: "boolean", default: false },
        force: { type: "boolean", default: false },
        lo: { type: "boolean", default: false },
        nameserver: { type: "string", multiple: true },
        hostname: { type: "string" },
        timeout: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      HELP,
    );
    if (!parsed) return own.includes("--help") || own.includes("-h") ? 0 : 2;
    const { dir, json, force, lo, nameserver, hostname, timeout } = parsed.values;
    const [sub, name, ...extra] = parsed.positionals;
    const where = dir === undefined ? {} : { dir };
    const usage = (why: string) => {
      console.error(`berth: ${why}\n\n${HELP}`);
      return 2;
    };
    const needsName = sub === "add" || sub === "rm" || sub === "exec";
    if (needsName && name === undefined) return usage(`netns ${sub} needs a NAME`);
    if (extra.length > 0 || (!needsName && name !== undefined))
      return usage(`unexpected arguments: ${[name, ...extra].join(" ")}`);

    switch (sub) {
      case "add": {
        if (name === undefined) return 2;
        const etc = {
          ...(nameserver === undefined ? {} : { resolvConf: nameserver.map((ip) => `nameserver ${ip}\n`).join("") }),
          ...(hostname === undefined ? {} : { hostname: `${hostname}\n` }),
        };
        const created = await createNetns(name, {
          ...where,
          detached: true,
          loopbackUp: lo,
          ...(Object.keys(etc).length > 0 ? { etc } : {}),
        });
        if (created.isErr()) return fail(created.error, json);
        const ns = created.value;
        const id = formatNetnsIdentity(ns.identity);
        if (json) console.log(JSON.stringify({ name: ns.name, path: ns.path, id }));
        else console.log(`${ns.path} ${id}`);
        return 0;
      }
      case "rm": {
        if (name === undefined) return 2;
        const deleted = await deleteNetns(name, { ...where, force });
        if (deleted.isErr()) return fail(deleted.error, json);
        if (json) console.log(JSON.stringify({ name, deleted: deleted.value }));
        else if (!deleted.value) console.log(`${name}: no such network namespace (nothing to do)`);
        return 0;
      }
      case "ls": {
        const listed = await listNetns(where);
        if (listed.isErr()) return fail(listed.error, json);
        if (json) {
          const rows = listed.value.map((e) =>
            e.stale
              ? { name: e.name, path: e.path, stale: true, problem: e.problem.message }
              : { name: e.name, path: e.path, stale: false, id: formatNetnsIdentity(e.identity) },
          );
          console.log(JSON.stringify(rows));
        } else {
          for (const e of listed.value) {
            console.log(
              e.stale ? `${e.name} (stale: ${e.problem.message})` : `${e.name} ${formatNetnsIdentity(e.identity)}`,
            );
          }
        }
        return 0;
      }
      case "exec": {
        if (name === undefined) return 2;
        const [cmd, ...cmdArgs] = command;
        if (cmd === undefined) return usage("netns exec needs a command after `--`");
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        try {
          const started = await spawnInNetns(name, cmd, cmdArgs, {
            ...where,
            stdio: "inherit",
            signal: controller.signal,
            ...(timeout === undefined ? {} : { timeoutMs: Number(timeout) }),
          });
          if (started.isErr()) return fail(started.error, false);
          const exit = await started.value.exit;
          if (exit.isErr()) return fail(exit.error, false);
          const { exitCode, signal } = exit.value;
          if (exitCode !== null) return exitCode;
          return 128 + (signal === null ? 0 : constants.signals[signal]);
        } finally {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        }
      }
      case "sweep": {
        const swept = await sweepNetns(where);
        if (swept.isErr()) return fail(swept.error, json);
        const { removed, markersRemoved, kept } = swept.value;
        if (json) console.log(JSON.stringify(swept.value));
        else
          console.log(
            `removed ${removed.length} (${removed.join(" ")}), markers ${markersRemoved.length}, kept ${kept.length}`,
          );
        return 0;
      }
      default:
        return usage(
          sub === undefined ? "netns needs a subcommand" : `unknown netns subcommand ${JSON.stringify(sub)}`,
        );
    }
  },
};
