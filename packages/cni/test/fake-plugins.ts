// Scripted fake CNI plugins for unit tests of error paths: small shell scripts in a temporary directory.
// Real plugins are exercised by the integration tests.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temporary plugin directory; `remove()` deletes it. */
export interface FakePluginDir {
  readonly dir: string;
  /** Writes an executable `#!/bin/sh` script named `name` with `body`; returns its path. */
  add(name: string, body: string): string;
  /** Writes a file with exact contents and mode. */
  write(name: string, contents: string, mode: number): string;
  remove(): void;
}

export function fakePluginDir(): FakePluginDir {
  const dir = mkdtempSync(join(tmpdir(), "berth-cni-fake-"));
  return {
    dir,
    add(name, body) {
      return this.write(name, `#!/bin/sh\n${body}\n`, 0o755);
    },
    write(name, contents, mode) {
      const path = join(dir, name);
      writeFileSync(path, contents, { mode });
      return path;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One call seen by a {@link addRecorder} plugin. */
export interface RecordedCall {
  readonly env: Record<string, string>;
  readonly stdin: string;
}

/**
 * Adds a Node.js plugin named `name` that appends each call (its CNI_* environment and stdin) as a JSON line to
 * `log` and behaves as a pass-through: ADD prints its prevResult (or an empty result), other commands print nothing.
 */
export function addRecorder(fake: FakePluginDir, name: string, log: string): string {
  const script = `#!${process.execPath}
const fs = require("node:fs");
const stdin = fs.readFileSync(0, "utf8");
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("CNI_") || k === "PATH"));
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ env, stdin }) + "\\n");
if (process.env.CNI_COMMAND === "ADD") {
  const conf = JSON.parse(stdin);
  process.stdout.write(JSON.stringify(conf.prevResult ?? { cniVersion: conf.cniVersion }));
} else if (process.env.CNI_COMMAND === "VERSION") {
  process.stdout.write(JSON.stringify({ cniVersion: "1.1.0", supportedVersions: ["0.3.1", "0.4.0", "1.0.0", "1.1.0"] }));
}
`;
  return fake.write(name, script, 0o755);
}

/** The calls a recorder logged, oldest first. */
export function recordedCalls(log: string): RecordedCall[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as RecordedCall);
}
