// `pnpm berth <command> [args]`: the reference host agent's command line.
// Each command lives in ./commands/<name>.ts and uses only berth's public packages.

import type { Command } from "./command.js";
import { importCommand } from "./commands/import.js";
import { logUriCommand } from "./commands/log-uri.js";
import { metadataCommand } from "./commands/metadata.js";
import { netCommand } from "./commands/net.js";
import { netnsCommand } from "./commands/netns.js";
import { pullCommand } from "./commands/pull.js";
import { runCommand } from "./commands/run.js";
import { taskCommand } from "./commands/task.js";
import { versionCommand } from "./commands/version.js";

const commands: Readonly<Record<string, Command>> = {
  import: importCommand,
  "log-uri": logUriCommand,
  metadata: metadataCommand,
  net: netCommand,
  netns: netnsCommand,
  pull: pullCommand,
  run: runCommand,
  task: taskCommand,
  version: versionCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    "usage: pnpm berth <command> [args]",
    "",
    "commands:",
    ...lines,
    "",
    "Run `pnpm berth <command> --help` for a command's options.",
  ].join("\n");
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`berth: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error("berth: unexpected failure:", error);
    process.exitCode = 1;
  },
);
