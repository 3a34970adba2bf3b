import { existsSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakePluginDir, fakePluginDir } from "../test/fake-plugins.js";
import { exited, FD_LIST, fdNumbers, pidFrom as pidOf, req, SIGNAL_STATE, waitFor } from "../test/launch-helpers.js";
import { execPlugin } from "./exec.js";
import { LAUNCHER_COMMAND, Launcher, type LaunchRequest, launcher, type SpawnOutcome } from "./launcher.js";
import { shellLauncher } from "./shell-launcher.js";

const never = new AbortController().signal;
let fake: FakePluginDir;
let l: Launcher;
const leftovers: number[] = [];

beforeEach(() => {
  fake = fakePluginDir();
  l = new Launcher();
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

afterAll(() => {
  launcher.kill();
});

// The launcher as it runs where the system call numbers it uses are unknown (the last two arguments: prctl, dup3).
const fallbackCommand = [...LAUNCHER_COMMAND.slice(0, -2), "0", "0"];

async function run(
  target: Launcher,
  request: LaunchRequest,
  signal = new AbortController().signal,
): Promise<SpawnOutcome> {
  const running = target.run(request, signal);
  if (running === undefined) throw new Error("the launcher is unavailable");
  return running;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const pidFrom = (file: string) => pidOf(file, leftovers);

describe("Launcher", () => {
  it("runs a plugin with exactly the given environment and working directory", async () => {
    // env(1) as the plugin prints its environment as it got it: no shell in between adds PWD or anything else.
    const first = exited(await run(l, req("/usr/bin/env", { env: { CNI_COMMAND: "ADD", X: "a b=c;d", EMPTY: "" } })));
    expect(first).toMatchObject({ code: 0, signal: null, stderr: "" });
    expect(first.stdout.split("\n").filter(Boolean).sort()).toEqual(["CNI_COMMAND=ADD", "EMPTY=", "X=a b=c;d"]);
    // The launcher keeps the last environment between runs: what a run does not name must be gone.
    expect(exited(await run(l, req("/usr/bin/env", { env: { B: "2" } }))).stdout).toBe("B=2\n");
    expect(exited(await run(l, req("/usr/bin/env"))).stdout).toBe("");
    // As many variables as the run before, one of them swapped and one changed: only the new set may remain.
    const envOf = async (env: Record<string, string>) =>
      exited(await run(l, req("/usr/bin/env", { env })))
        .stdout.split("\n")
        .filter(Boolean)
        .sort();
    expect(await envOf({ A: "1", B: "2", C: "3" })).toEqual(["A=1", "B=2", "C=3"]);
    expect(await envOf({ A: "1", C: "4", D: "5" })).toEqual(["A=1", "C=4", "D=5"]);
    expect(await envOf({ A: "1", C: "4", D: "5" })).toEqual(["A=1", "C=4", "D=5"]);
    expect(await envOf({ D: "5" })).toEqual(["D=5"]);
    expect(exited(await run(l, req("/bin/pwd", { cwd: fake.dir }))).stdout).toBe(`${realpathSync(fake.dir)}\n`);
    expect(exited(await run(l, req("/bin/pwd", { cwd: "/" }))).stdout).toBe("/\n");
  });

  it("starts plugins with default signal dispositions, an empty mask and only the fds a direct spawn gives", async () => {
    // The launcher sets the plugin's fds 0-2 and SIGPIPE up in itself around the fork (the child only execs): none of
    // its own state (SIGPIPE ignored, its pipes to Node, the exec-status pipe) may leak into the plugin.
    const path = fake.add(
      "state",
      ["cat >/dev/null", SIGNAL_STATE, FD_LIST, "for f in 0 1 2; do stat -L -c %F /proc/$$/fd/$f; done"].join("\n"),
    );
    const viaLauncher = exited(await run(l, req(path, { env: { CNI_COMMAND: "DEL" }, stdin: "{}" })));
    expect(viaLauncher).toMatchObject({ code: 0, stderr: "" });
    // The launcher sets no mask itself: its plugins get its own, which Node's spawn leaves empty.
    expect(readFileSync(`/proc/${l.pid}/status`, "utf8")).toContain("SigBlk:\t0000000000000000\n");
    const lines = viaLauncher.stdout.split("\n");
    expect(lines.slice(0, 2)).toEqual(["SigBlk: 0000000000000000", "SigIgn: 0000000000000000"]);
    // stdin, stdout and stderr are pipes, as libcni's (Go's os.Pipe); Node's own spawn uses socket pairs.
    expect(lines.slice(3, 6)).toEqual(["fifo", "fifo", "fifo"]);
    const direct = (
      await execPlugin(
        { plugin: "state", path, env: { CNI_COMMAND: "DEL" }, stdin: "{}", stdout: "ignore" },
        { launcher: false },
      )
    )._unsafeUnwrap();
    // The same signal state as a direct spawn, and fds 0-2 plus only the shell's own (dash: 10 and up). A direct
    // spawn may also pass fds 3-9 that another part of the test process had open without close-on-exec at that
    // moment, so those are left out of the baseline.
    const directLines = direct.stdout.split("\n");
    expect(lines.slice(0, 2)).toEqual(directLines.slice(0, 2));
    expect(fdNumbers(lines[2])).toEqual([0, 1, 2, ...fdNumbers(directLines[2]).filter((fd) => fd >= 10)]);
  });

  it("starts plugins in the same state without the system calls it uses by number (other architectures)", async () => {
    // prctl and dup3 unknown: perl's open-dup puts the pipes on fds 0-2, and nothing asks for PR_SET_PDEATHSIG.
    const path = fake.add(
      "state",
      [
        "cat",
        SIGNAL_STATE,
        FD_LIST,
        "for f in 0 1 2; do stat -L -c %F /proc/$$/fd/$f; done",
        "cut -d' ' -f1 /proc/$$/stat >&2",
      ].join("\n"),
    );
    const fallback = new Launcher(fallbackCommand);
    try {
      const a = exited(await run(l, req(path, { env: { A: "1" }, stdin: "in\n" })));
      const b = exited(await run(fallback, req(path, { env: { A: "1" }, stdin: "in\n" })));
      expect(a).toMatchObject({ code: 0 });
      expect(a.stdout).toMatch(/^in\nSigBlk: 0{16}\nSigIgn: 0{16}\n/);
      expect(b.stdout).toBe(a.stdout);
      // Both printed their pid on stderr, so stderr reached Node on both.
      expect(Number(b.stderr)).toBeGreaterThan(0);
      // And both launchers are still fine.
      expect(exited(await run(fallback, req("/bin/true"))).code).toBe(0);
    } finally {
      fallback.kill();
    }
  });

  it("loads no compiled perl module (each adds pages that make every fork dearer)", async () => {
    expect(exited(await run(l, req("/bin/true"))).code).toBe(0);
    const maps = readFileSync(`/proc/${l.pid}/maps`, "utf8");
    expect(maps).toMatch(/\/perl\b/);
    // XS modules (POSIX, Fcntl, ...) are shared objects under .../auto/<Module>/.
    expect(maps).not.toMatch(/\/auto\/\S+\.so/);
  });

  it("passes a large stdin and relays large stdout and stderr intact", async () => {
    const path = fake.add("echoer", "cat; seq 1 100000 >&2");
    const stdin = `${"0123456789abcdef".repeat(200_000)}\u00e9\n`;
    const out = exited(await run(l, req(path, { stdin })));
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(stdin);
    expect(out.stderr).toBe(`${Array.from({ length: 100_000 }, (_, i) => i + 1).join("\n")}\n`);
  });

  it("reads the output of a plugin that is still running once it outgrows a pipe", async () => {
    // Output is read at exit, or after a short while: a plugin that writes more than a pipe holds and then waits
    // must not block on its stdout forever.
    const marker = join(fake.dir, "written");
    const controller = new AbortController();
    const running = run(
      l,
      req(fake.add("big", `head -c 300000 /dev/zero; touch "${marker}"; exec sleep 30`)),
      controller.signal,
    );
    try {
      const started = Date.now();
      await waitFor(() => existsSync(marker), "the plugin to write all its output");
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      controller.abort();
    }
    expect(await running).toEqual({ kind: "stopped" });
  });

  it("reports exit codes, killing signals and exec errors by errno", async () => {
    expect(exited(await run(l, req(fake.add("three", "exit 3"))))).toMatchObject({ code: 3, signal: null });
    expect(exited(await run(l, req(fake.add("term", "kill -TERM $$"))))).toMatchObject({
      code: null,
      signal: "SIGTERM",
    });
    const missing = await run(l, req(join(fake.dir, "missing")));
    expect(missing.kind).toBe("spawn-error");
    expect((missing as { cause: NodeJS.ErrnoException }).cause.code).toBe("ENOENT");
    const noexec = await run(l, req(fake.write("noexec", "#!/bin/sh\n", 0o644)));
    expect((noexec as { cause: NodeJS.ErrnoException }).cause.code).toBe("EACCES");
    const nodir = await run(l, req("/bin/true", { cwd: join(fake.dir, "nodir") }));
    expect((nodir as { cause: NodeJS.ErrnoException }).cause.code).toBe("ENOENT");
    // The launcher survived all of that.
    expect(exited(await run(l, req("/bin/true"))).code).toBe(0);
  });

  it("runs concurrent plugins in parallel in one launcher process, each with its own env, stdin and output", async () => {
    const path = fake.add("slow", 'sleep 0.5; cat; echo "$N" >&2');
    await run(l, req("/bin/true"));
    const pid = l.pid;
    const started = Date.now();
    const outs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => run(l, req(path, { env: { N: `n${i}` }, stdin: `in-${i}` }))),
    );
    // Sequential runs would take 10 s at least.
    expect(Date.now() - started).toBeLessThan(8_000);
    outs.forEach((o, i) => {
      expect(exited(o)).toMatchObject({ code: 0, stdout: `in-${i}`, stderr: `n${i}\n` });
    });
    expect(l.pid).toBe(pid);
  });

  it("kills the plugin when stopped, settles without waiting for its pipes, and stays usable", async () => {
    const pidFile = join(fake.dir, "pid");
    // The background sleep keeps stdout open after the plugin is killed.
    const path = fake.add("hang", `sleep 30 & echo $! > "${pidFile}.child"; echo $$ > "${pidFile}"; wait`);
    const controller = new AbortController();
    const running = run(l, req(path), controller.signal);
    const pid = await pidFrom(pidFile);
    await pidFrom(`${pidFile}.child`);
    const launcherPid = l.pid;
    controller.abort();
    expect(await running).toEqual({ kind: "stopped" });
    expect(isAlive(pid)).toBe(false);
    expect(exited(await run(l, req("/bin/true"))).code).toBe(0);
    expect(l.pid).toBe(launcherPid);
  });

  it("settles a stopped run whose plugin has exited while a process it started holds its output open", async () => {
    const pidFile = join(fake.dir, "pid");
    const controller = new AbortController();
    const running = run(l, req(fake.add("leaves", `sleep 30 & echo $! > "${pidFile}"; exit 0`)), controller.signal);
    await pidFrom(pidFile);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    controller.abort();
    expect(await running).toEqual({ kind: "stopped" });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("does not start a run that is stopped before the launcher gets it", async () => {
    const marker = join(fake.dir, "ran");
    const out = await run(l, req(fake.add("p", `touch "${marker}"`)), AbortSignal.abort());
    expect(out).toEqual({ kind: "stopped" });
    await run(l, req("/bin/true"));
    expect(existsSync(marker)).toBe(false);
  });

  it("kills the running plugins and fails their runs when it dies, then a new launcher takes over", async () => {
    const pidFile = join(fake.dir, "pid");
    const running = run(l, req(fake.add("hang", `echo $$ > "${pidFile}"; exec sleep 30`)));
    const pid = await pidFrom(pidFile);
    const first = l.pid as number;
    l.kill();
    // Guarded (PR_SET_PDEATHSIG): this process never learnt the pid, so only the kernel can have killed the plugin.
    expect(await running).toEqual({ kind: "lost", pid: 0, killed: true });
    await waitFor(() => !isAlive(pid), "the plugin to die");
    expect(exited(await run(l, req("/bin/true"))).code).toBe(0);
    expect(l.pid).not.toBe(first);
    expect(isAlive(first)).toBe(false);
    expect(l.unavailableReason).toBeUndefined();
  });

  it("without PR_SET_PDEATHSIG, learns each plugin's pid and kills the plugin itself when the launcher dies", async () => {
    const unguarded = new Launcher(fallbackCommand);
    try {
      const pidFile = join(fake.dir, "pid");
      const running = run(unguarded, req(fake.add("hang", `echo $$ > "${pidFile}"; exec sleep 30`)));
      const pid = await pidFrom(pidFile);
      // The pid ("S") was sent before the plugin could write its pid file; let it arrive.
      await new Promise((r) => setTimeout(r, 100));
      unguarded.kill();
      expect(await running).toEqual({ kind: "lost", pid, killed: true });
      await waitFor(() => !isAlive(pid), "the plugin to die");
    } finally {
      unguarded.kill();
    }
  });

  it("fails the runs it had not started yet when it dies after it was ready, and is restarted", async () => {
    // A launcher that is ready, then dies on its first request without starting it: the run cannot know that
    // nothing ran, so it fails rather than running twice; the next run gets a new launcher.
    const broken = new Launcher(["sh", "-c", "echo ready $$; read x; exit 1"]);
    expect(await run(broken, req("/bin/true"))).toEqual({ kind: "lost", pid: 0, killed: false });
    expect(broken.unavailableReason).toBeUndefined();
    expect(await run(broken, req("/bin/true"))).toEqual({ kind: "lost", pid: 0, killed: false });
  });

  it.each([["/bin/false"], ["/nonexistent/perl"]])(
    "hands its runs back and is given up when %s cannot serve as the launcher",
    async (cmd) => {
      const broken = new Launcher([cmd]);
      expect(await run(broken, req("/bin/true"))).toEqual({ kind: "retry" });
      expect(broken.unavailableReason).toContain("before it was ready");
      expect(broken.run(req("/bin/true"), never)).toBeUndefined();
    },
  );

  it("finishes its plugins and exits when its stdin closes", async () => {
    const running = run(l, req(fake.add("late", "sleep 0.3; echo done")));
    const pid = l.pid as number;
    l.close();
    expect(exited(await running)).toMatchObject({ code: 0, stdout: "done\n" });
    await waitFor(() => !isAlive(pid), "the launcher to exit");
    expect(l.pid).toBeUndefined();
  });
});

describe("execPlugin through the launcher", () => {
  it("fails with IOFailure and kills the plugin when the launcher dies mid-run; the next run works", async () => {
    const pidFile = join(fake.dir, "pid");
    const path = fake.add("hang", `echo $$ > "${pidFile}"; exec sleep 30`);
    const running = execPlugin({ plugin: "fake", path, env: { CNI_COMMAND: "ADD" }, stdin: "{}", network: "n1" });
    const pid = await pidFrom(pidFile);
    // Runs go through the shell launcher where dash exists (Debian), else through the perl one.
    if (shellLauncher.unavailableReason === undefined) shellLauncher.kill();
    else launcher.kill();
    const e = (await running)._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "IOFailure", plugin: "fake", network: "n1" });
    expect(e.message).toContain(
      "launcher died while the plugin ran (the plugin, if it had started, was killed with it)",
    );
    await waitFor(() => !isAlive(pid), "the plugin to die");
    const ok = fake.add("ok", `echo '{"cniVersion":"1.0.0"}'`);
    const r = await execPlugin({ plugin: "fake", path: ok, env: { CNI_COMMAND: "ADD" }, stdin: "{}" });
    expect(r._unsafeUnwrap().output).toEqual({ cniVersion: "1.0.0" });
    expect(launcher.unavailableReason).toBeUndefined();
    expect(shellLauncher.unavailableReason).toBeUndefined();
  });
});
