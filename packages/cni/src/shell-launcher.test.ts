import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakePluginDir, fakePluginDir } from "../test/fake-plugins.js";
import { exited, FD_LIST, fdNumbers, pidFrom as pidOf, req, SIGNAL_STATE, waitFor } from "../test/launch-helpers.js";
import { execPlugin } from "./exec.js";
import type { LaunchRequest, SpawnOutcome } from "./launcher.js";
import { ShellLauncher } from "./shell-launcher.js";

const dash = existsSync("/bin/dash");
let fake: FakePluginDir;
let l: ShellLauncher;
const leftovers: number[] = [];

beforeEach(() => {
  fake = fakePluginDir();
  l = new ShellLauncher();
});

afterEach(() => {
  l.kill();
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  fake.remove();
});

async function run(request: LaunchRequest, signal?: AbortSignal): Promise<SpawnOutcome> {
  const running = l.run(request, signal);
  if (running === undefined) throw new Error("the shell launcher is unavailable");
  return running;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is dead: only its parent has not collected it yet.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

const pidFrom = (file: string) => pidOf(file, leftovers);

const shellDirs = () => readdirSync(tmpdir()).filter((f) => f.startsWith("berth-cni-sh-"));

describe.skipIf(!dash)("ShellLauncher", () => {
  it("runs a plugin with exactly the given environment and working directory", async () => {
    // env(1) prints the environment as it got it: nothing of the shell's own (PWD, OLDPWD) may be added.
    const env = { CNI_COMMAND: "ADD", X: "a b=c;d 'q' \"w\" $HOME `x`\nline2", EMPTY: "", IFS: ":", PWD: "/x" };
    const first = exited(await run(req("/usr/bin/env", { env })));
    expect(first).toMatchObject({ code: 0, signal: null, stderr: "" });
    expect(first.stdout).toContain(`X=${env.X}\n`);
    expect(
      first.stdout
        .split("\n")
        .filter((l) => !l.startsWith("X=") && l !== "line2" && l !== "")
        .sort(),
    ).toEqual(["CNI_COMMAND=ADD", "EMPTY=", "IFS=:", "PWD=/x"]);
    // The next run on the same shell gets only its own.
    expect(exited(await run(req("/usr/bin/env", { env: { B: "2" } }))).stdout).toBe("B=2\n");
    expect(exited(await run(req("/usr/bin/env"))).stdout).toBe("");
    expect(exited(await run(req("/bin/pwd", { cwd: fake.dir }))).stdout).toBe(`${realpathSync(fake.dir)}\n`);
    expect(exited(await run(req("/bin/pwd", { cwd: "/" }))).stdout).toBe("/\n");
  });

  it("gives the exact stdin bytes and relays large stdout and stderr intact", async () => {
    const path = fake.add("echoer", "cat; seq 1 100000 >&2");
    const stdin = `${"0123456789abcdef".repeat(200_000)}\u00e9 no newline at the end`;
    const out = exited(await run(req(path, { stdin })));
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(stdin);
    expect(out.stderr).toBe(`${Array.from({ length: 100_000 }, (_, i) => i + 1).join("\n")}\n`);
  });

  it("starts plugins with default signal dispositions, an empty mask and the fds a direct spawn gives", async () => {
    const state = ["cat >/dev/null", SIGNAL_STATE, FD_LIST].join("\n");
    const path = fake.add("state", state);
    const out = exited(await run(req(path, { env: { CNI_COMMAND: "DEL" }, stdin: "{}" })));
    const lines = out.stdout.split("\n");
    expect(lines.slice(0, 2)).toEqual(["SigBlk: 0000000000000000", "SigIgn: 0000000000000000"]);
    // fds 0-2, plus what a direct spawn from this process also passes: the fake plugin's own script (dash: fd 10)
    // and any fd from 10 up this test process inherited without close-on-exec. Fds 3-9 another part of the test
    // process may hold open at that moment are left out of the baseline; the launcher's own (its pipes to this
    // process, the sourced command) must not appear.
    const direct = (
      await execPlugin(
        { plugin: "state", path, env: { CNI_COMMAND: "DEL" }, stdin: "{}", stdout: "ignore" },
        { launcher: false },
      )
    )._unsafeUnwrap();
    const directLines = direct.stdout.split("\n");
    expect(lines.slice(0, 2)).toEqual(directLines.slice(0, 2));
    expect(fdNumbers(lines[2])).toEqual([0, 1, 2, ...fdNumbers(directLines[2]).filter((fd) => fd >= 10)]);
  });

  it("reports exit codes, killing signals and exec errors by errno", async () => {
    expect(exited(await run(req(fake.add("three", "echo out; echo err >&2; exit 3"))))).toMatchObject({
      code: 3,
      signal: null,
      stdout: "out\n",
      stderr: "err\n",
    });
    expect(exited(await run(req(fake.add("term", "kill -TERM $$"))))).toMatchObject({ code: null, signal: "SIGTERM" });
    const missing = await run(req(join(fake.dir, "missing")));
    expect((missing as { cause: NodeJS.ErrnoException }).cause.code).toBe("ENOENT");
    const noexec = await run(req(fake.write("noexec", "#!/bin/sh\n", 0o644)));
    expect((noexec as { cause: NodeJS.ErrnoException }).cause.code).toBe("EACCES");
    const nodir = await run(req("/bin/true", { cwd: join(fake.dir, "nodir") }));
    expect((nodir as { cause: NodeJS.ErrnoException }).cause.code).toBe("ENOENT");
    // One shell served all of that.
    expect(exited(await run(req("/bin/true"))).code).toBe(0);
    expect(l.pids).toHaveLength(1);
  });

  it("runs concurrent plugins in parallel, each with its own env, stdin and output", async () => {
    const path = fake.add("slow", 'sleep 0.5; cat; echo "$N" >&2');
    const started = Date.now();
    const outs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => run(req(path, { env: { N: `n${i}` }, stdin: `in-${i}` }))),
    );
    // Sequential runs would take 10 s at least.
    expect(Date.now() - started).toBeLessThan(8_000);
    outs.forEach((o, i) => {
      expect(exited(o)).toMatchObject({ code: 0, stdout: `in-${i}`, stderr: `n${i}\n` });
    });
    // Idle shells beyond a few are closed.
    await waitFor(() => l.pids.length <= 4, "extra shells to exit");
  });

  it("kills the plugin when stopped, settles once it is gone, and the shell stays usable", async () => {
    const pidFile = join(fake.dir, "pid");
    const controller = new AbortController();
    const running = run(req(fake.add("hang", `echo $$ > "${pidFile}"; exec sleep 30`)), controller.signal);
    const pid = await pidFrom(pidFile);
    const [shell] = l.pids;
    controller.abort();
    expect(await running).toEqual({ kind: "stopped" });
    expect(isAlive(pid)).toBe(false);
    expect(exited(await run(req("/bin/true"))).code).toBe(0);
    expect(l.pids).toEqual([shell]);
  });

  it("does not start a run that is stopped before it is sent", async () => {
    const marker = join(fake.dir, "ran");
    expect(await run(req(fake.add("p", `touch "${marker}"`)), AbortSignal.abort())).toEqual({ kind: "stopped" });
    await run(req("/bin/true"));
    expect(existsSync(marker)).toBe(false);
  });

  it("kills the plugin and loses the run when its shell dies; the next run gets a new shell", async () => {
    const pidFile = join(fake.dir, "pid");
    const running = run(req(fake.add("hang", `echo $$ > "${pidFile}"; exec sleep 30`)));
    const pid = await pidFrom(pidFile);
    const [first] = l.pids;
    process.kill(first as number, "SIGKILL");
    expect(await running).toEqual({ kind: "lost", pid: 0, killed: true });
    await waitFor(() => !isAlive(pid), "the plugin to die");
    expect(exited(await run(req("/bin/true"))).code).toBe(0);
    expect(l.pids).not.toContain(first);
  });

  it("leaves environments a shell cannot assign, and a missing dash, to another launcher", () => {
    expect(l.run(req("/bin/true", { env: { "a-b": "1" } }))).toBeUndefined();
    const none = new ShellLauncher("/nonexistent/dash");
    expect(none.run(req("/bin/true"))).toBeUndefined();
    expect(none.unavailableReason).toContain("does not exist");
  });

  it("removes its directories when its shells exit", async () => {
    const before = shellDirs();
    await run(req("/bin/true"));
    const mine = shellDirs().filter((d) => !before.includes(d));
    expect(mine).toHaveLength(1);
    const [pid] = l.pids;
    l.close();
    await waitFor(() => !isAlive(pid as number), "the shell to exit");
    await waitFor(() => !existsSync(join(tmpdir(), mine[0] as string)), "its directory to go");
  });
});

describe.skipIf(!dash)("execPlugin through the shell launcher", () => {
  it("reports a plugin's error JSON exactly as a direct spawn does", async () => {
    const bad = fake.add("bad", `echo '{"cniVersion":"1.0.0","code":7,"msg":"nope"}'; exit 1`);
    const e = (
      await execPlugin({ plugin: "bad", path: bad, env: { CNI_COMMAND: "ADD" }, stdin: "{}", network: "n" })
    )._unsafeUnwrapErr();
    const direct = (
      await execPlugin(
        { plugin: "bad", path: bad, env: { CNI_COMMAND: "ADD" }, stdin: "{}", network: "n" },
        { launcher: false },
      )
    )._unsafeUnwrapErr();
    expect({ code: e.code, message: e.message }).toEqual({ code: direct.code, message: direct.message });
  });
});
