import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakePluginDir, fakePluginDir } from "../test/fake-plugins.js";
import {
  type ExecOptions,
  execPlugin,
  findPlugin,
  MAX_EXEC_ATTEMPTS,
  type PluginExecRequest,
  splitCniPath,
} from "./exec.js";

let fake: FakePluginDir;
const leftovers: number[] = [];

beforeEach(() => {
  fake = fakePluginDir();
});

afterEach(() => {
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  fake.remove();
});

function request(path: string, extra: Partial<PluginExecRequest> = {}): PluginExecRequest {
  return { plugin: "fake", path, env: { CNI_COMMAND: "ADD" }, stdin: '{"cniVersion":"1.0.0"}', ...extra };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForFile(path: string): Promise<string> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 10));
  return readFileSync(path, "utf8").trim();
}

describe("splitCniPath", () => {
  it("splits CNI_PATH strings and drops empty entries", () => {
    expect(splitCniPath("/a::/b:")).toEqual(["/a", "/b"]);
    expect(splitCniPath(["/a", "", "/b"])).toEqual(["/a", "/b"]);
    expect(splitCniPath("")).toEqual([]);
  });
});

describe("findPlugin", () => {
  it("returns the first regular file in path order", async () => {
    const second = fakePluginDir();
    try {
      second.add("p", "exit 0");
      expect((await findPlugin("p", [fake.dir, second.dir]))._unsafeUnwrap()).toBe(join(second.dir, "p"));
      fake.add("p", "exit 0");
      expect((await findPlugin("p", `${fake.dir}:${second.dir}`))._unsafeUnwrap()).toBe(join(fake.dir, "p"));
    } finally {
      second.remove();
    }
  });

  it("skips a directory with the plugin's name", async () => {
    mkdirSync(join(fake.dir, "p"));
    const e = (await findPlugin("p", [fake.dir]))._unsafeUnwrapErr();
    expect(e.code).toBe("PluginNotFound");
  });

  it("names every directory searched when the plugin is missing", async () => {
    const e = (await findPlugin("nope", [fake.dir, "/nonexistent/cni"]))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "PluginNotFound", plugin: "nope", details: `${fake.dir}:/nonexistent/cni` });
    expect(e.message).toContain(`not found in ${fake.dir}, /nonexistent/cni`);
  });

  it("fails clearly without directories", async () => {
    const e = (await findPlugin("p", ""))._unsafeUnwrapErr();
    expect(e.code).toBe("PluginNotFound");
    expect(e.message).toContain("no plugin directories were given");
  });

  it.each(["", "../p", "a/b"])("rejects the plugin name %j", async (type) => {
    expect((await findPlugin(type, [fake.dir]))._unsafeUnwrapErr().code).toBe("InvalidConfig");
  });
});

describe.each([true, false])("execPlugin (launcher: %s)", (useLauncher) => {
  const exec = (r: PluginExecRequest, options: ExecOptions = {}) =>
    execPlugin(r, { ...options, launcher: useLauncher });

  it("passes exactly the given environment and stdin, and parses the JSON result", async () => {
    process.env.BERTH_CNI_LEAK_CHECK = "leaked";
    try {
      const envFile = join(fake.dir, "env.out");
      const stdinFile = join(fake.dir, "stdin.out");
      const path = fake.add(
        "ok",
        `env > "${envFile}"; cat > "${stdinFile}"; echo '{"cniVersion":"1.0.0","ips":[]}'; echo note >&2`,
      );
      const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1", CNI_PATH: fake.dir, CNI_ARGS: "A=1;B=2" };
      const stdin = JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "ok", big: "x".repeat(200_000) });
      const r = (await exec(request(path, { env, stdin })))._unsafeUnwrap();
      expect(r.output).toEqual({ cniVersion: "1.0.0", ips: [] });
      expect(r.stderr).toBe("note\n");
      expect(r.attempts).toBe(1);
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
      expect(readFileSync(stdinFile, "utf8")).toBe(stdin);
      // dash exports PWD on its own; everything else must be exactly what was given.
      const seen = readFileSync(envFile, "utf8")
        .trim()
        .split("\n")
        .filter((l) => !l.startsWith("PWD="))
        .sort();
      expect(seen).toEqual(
        Object.entries(env)
          .map(([k, v]) => `${k}=${v}`)
          .sort(),
      );
    } finally {
      delete process.env.BERTH_CNI_LEAK_CHECK;
    }
  });

  it("ignores stdout when asked (DEL)", async () => {
    const path = fake.add("del", "echo not json");
    expect((await exec(request(path, { stdout: "ignore" })))._unsafeUnwrap().output).toBeUndefined();
  });

  it("survives a plugin that exits without reading its stdin", async () => {
    const path = fake.add("noread", `echo '{}'`);
    const r = await exec(request(path, { stdin: "y".repeat(4 * 1024 * 1024) }));
    expect(r._unsafeUnwrap().output).toEqual({});
  });

  it("reports garbage output on success as InvalidResult", async () => {
    const path = fake.add("garbage", "echo '<html>oops</html>'; echo why >&2");
    const e = (await exec(request(path)))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidResult", plugin: "fake", details: "stderr: why" });
    expect(e.message).toContain("<html>oops</html>");
  });

  it("reports empty output on success as InvalidResult", async () => {
    const path = fake.add("silent", "exit 0");
    const e = (await exec(request(path, { network: "n1" })))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidResult", network: "n1" });
    expect(e.message).toContain("printed no result");
  });

  it("decodes error JSON from stdout and keeps stderr", async () => {
    const path = fake.add(
      "fails",
      `echo '{"cniVersion":"1.0.0","code":7,"msg":"missing bridge","details":"set bridge"}'; echo trace >&2; exit 1`,
    );
    const e = (await exec(request(path, { network: "n1" })))._unsafeUnwrapErr();
    expect(e).toMatchObject({
      code: "InvalidConfig",
      cniCode: 7,
      plugin: "fake",
      network: "n1",
      pluginMessage: "missing bridge",
      details: "set bridge; stderr: trace",
    });
    expect(e.message).toContain('CNI plugin "fake" (ADD) failed (code 7, InvalidConfig): missing bridge');
  });

  it("keeps plugin-specific codes", async () => {
    const path = fake.add("p", `echo '{"code":123,"msg":"custom"}'; exit 1`);
    expect((await exec(request(path)))._unsafeUnwrapErr()).toMatchObject({
      code: "PluginSpecific",
      cniCode: 123,
    });
  });

  it("reports garbage error output as PluginFailed with the text", async () => {
    const path = fake.add("p", "echo 'panic: nil map'; exit 2");
    const e = (await exec(request(path)))._unsafeUnwrapErr();
    expect(e.code).toBe("PluginFailed");
    expect(e.message).toContain("panic: nil map");
  });

  it("falls back to stderr when stdout is empty", async () => {
    const path = fake.add("p", "echo 'cannot open /run/x: permission denied' >&2; exit 3");
    const e = (await exec(request(path)))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "PluginFailed", details: "cannot open /run/x: permission denied" });
    expect(e.message).toContain("exit code 3: cannot open /run/x: permission denied");
  });

  it("reports a silent failure", async () => {
    const path = fake.add("p", "exit 4");
    const e = (await exec(request(path)))._unsafeUnwrapErr();
    expect(e.code).toBe("PluginFailed");
    expect(e.message).toContain("exit code 4 and printed nothing");
  });

  it("reports death by a signal", async () => {
    const path = fake.add("p", "kill -SEGV $$");
    expect((await exec(request(path)))._unsafeUnwrapErr().message).toContain("signal SIGSEGV");
  });

  it("kills a hanging plugin with SIGKILL and fails with Timeout", async () => {
    const pidFile = join(fake.dir, "pid");
    const path = fake.add("hang", `echo $$ > "${pidFile}"; exec sleep 30`);
    const started = Date.now();
    const e = (await exec(request(path), { timeoutMs: 300 }))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "Timeout", plugin: "fake" });
    expect(e.message).toContain("300 ms");
    expect(Date.now() - started).toBeLessThan(5_000);
    const pid = Number(await waitForFile(pidFile));
    leftovers.push(pid);
    expect(isAlive(pid)).toBe(false);
  });

  it("does not wait for a process the plugin started that holds its output open", async () => {
    const pidFile = join(fake.dir, "pid");
    const path = fake.add("forks", `sleep 30 & echo $! > "${pidFile}"; wait`);
    const started = Date.now();
    const e = (await exec(request(path), { timeoutMs: 300 }))._unsafeUnwrapErr();
    leftovers.push(Number(await waitForFile(pidFile)));
    expect(e.code).toBe("Timeout");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("kills the plugin and fails with Aborted when the signal fires", async () => {
    const pidFile = join(fake.dir, "pid");
    const path = fake.add("hang", `echo $$ > "${pidFile}"; exec sleep 30`);
    const controller = new AbortController();
    const running = exec(request(path), { signal: controller.signal });
    const pid = Number(await waitForFile(pidFile));
    leftovers.push(pid);
    controller.abort(new Error("shutting down"));
    const e = (await running)._unsafeUnwrapErr();
    expect(e.code).toBe("Aborted");
    expect((e.cause as Error).message).toBe("shutting down");
    expect(isAlive(pid)).toBe(false);
  });

  it("does not start the plugin when the signal is already aborted", async () => {
    const marker = join(fake.dir, "ran");
    const path = fake.add("p", `touch "${marker}"; echo '{}'`);
    const e = (await exec(request(path), { signal: AbortSignal.abort() }))._unsafeUnwrapErr();
    expect(e.code).toBe("Aborted");
    expect(existsSync(marker)).toBe(false);
  });

  it("retries 'text file busy' until the binary is ready", async () => {
    const path = join(fake.dir, "busy");
    const fd = openSync(path, "w", 0o755);
    writeSync(fd, "#!/bin/sh\necho '{\"ok\":1}'\n");
    const closer = setTimeout(() => closeSync(fd), 300);
    try {
      const r = (await exec(request(path)))._unsafeUnwrap();
      expect(r.output).toEqual({ ok: 1 });
      expect(r.attempts).toBe(2);
    } finally {
      clearTimeout(closer);
      try {
        closeSync(fd);
      } catch {
        // closed by the timer
      }
    }
  });

  it(`gives up on 'text file busy' after ${MAX_EXEC_ATTEMPTS} attempts`, async () => {
    const path = join(fake.dir, "busy");
    const fd = openSync(path, "w", 0o755);
    try {
      writeSync(fd, "#!/bin/sh\nexit 0\n");
      const e = (await exec(request(path)))._unsafeUnwrapErr();
      expect(e.code).toBe("IOFailure");
      expect(e.message).toContain(`after ${MAX_EXEC_ATTEMPTS} attempts: text file busy`);
    } finally {
      closeSync(fd);
    }
  });

  it("stops retrying 'text file busy' at the timeout", async () => {
    const path = join(fake.dir, "busy");
    const fd = openSync(path, "w", 0o755);
    try {
      writeSync(fd, "#!/bin/sh\nexit 0\n");
      const started = Date.now();
      const e = (await exec(request(path), { timeoutMs: 200 }))._unsafeUnwrapErr();
      expect(e.code).toBe("Timeout");
      expect(Date.now() - started).toBeLessThan(900);
    } finally {
      closeSync(fd);
    }
  });

  it("reports a file without execute permission as IOFailure", async () => {
    const path = fake.write("noexec", "#!/bin/sh\necho '{}'\n", 0o644);
    const e = (await exec(request(path)))._unsafeUnwrapErr();
    expect(e.code).toBe("IOFailure");
    expect(e.message).toContain("chmod +x");
  });

  it("reports a missing interpreter as PluginNotFound", async () => {
    const path = fake.write("badshebang", "#!/nonexistent/interpreter\n", 0o755);
    const e = (await exec(request(path)))._unsafeUnwrapErr();
    expect(e.code).toBe("PluginNotFound");
    expect(e.message).toContain("interpreter");
  });

  it("requires CNI_COMMAND and a sane timeout", async () => {
    const path = fake.add("p", "echo '{}'");
    expect((await exec(request(path, { env: {} })))._unsafeUnwrapErr().code).toBe("InvalidEnvironment");
    expect((await exec(request(path), { timeoutMs: 0 }))._unsafeUnwrapErr().code).toBe("InvalidConfig");
    expect((await exec(request(path), { timeoutMs: Number.NaN }))._unsafeUnwrapErr().code).toBe("InvalidConfig");
  });
});
