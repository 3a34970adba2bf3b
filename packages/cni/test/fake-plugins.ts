// Scripted fake CNI plugins for unit tests of error paths: small shell scripts in a temporary directory.
// Real plugins are exercised by the integration tests.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
