import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { helperCanHandle, IpBatch } from "./ip-batch.js";

const dir = mkdtempSync(join(tmpdir(), "berth-netns-batch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A stand-in for `ip -force -batch -` that speaks iproute2's batch protocol on stderr: every failing line prints
// its message and `Command failed -:N`; unknown objects (the sync line) fail like iproute2's do. Commands:
// `ok X` succeeds silently, `slow` succeeds after 0.3 s, `warn X` succeeds with a message, `fail X` fails, `die` exits, `hang` never answers,
// `skew` answers for a line that was never sent.
const fakeIp = join(dir, "ip");
writeFileSync(
  fakeIp,
  `#!/bin/sh
n=0
while IFS= read -r line; do
  n=$((n+1))
  case "$line" in
    ok*) ;;
    warn*) echo "Warning: \${line#warn }" >&2 ;;
    fail*) echo "Error: \${line#fail }" >&2; echo "Command failed -:$n" >&2 ;;
    die*) exit 3 ;;
    hang*) exec sleep 60 ;;
    slow*) sleep 0.3 ;;
    skew*) echo "Command failed -:999" >&2 ;;
    *) echo "Object \\"$line\\" is unknown, try \\"ip help\\"." >&2; echo "Command failed -:$n" >&2 ;;
  esac
done
`,
);
chmodSync(fakeIp, 0o755);

const helpers: IpBatch[] = [];
function helper(options: ConstructorParameters<typeof IpBatch>[1] = {}): IpBatch {
  const h = new IpBatch(fakeIp, options);
  helpers.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(helpers.splice(0).map((h) => h.close()));
});

function alive(pid: number | undefined): boolean {
  return pid !== undefined && existsSync(`/proc/${pid}`);
}

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

describe("IpBatch", () => {
  it("gives each command its own outcome and messages, in order, also when many callers share it", async () => {
    const h = helper();
    const commands = Array.from({ length: 60 }, (_, i) =>
      i % 3 === 0 ? `fail e${i}` : i % 3 === 1 ? `ok ${i}` : `warn w${i}`,
    );
    const outcomes = await Promise.all(commands.map((c) => h.run(c)));
    outcomes.forEach((o, i) => {
      if (i % 3 === 0) expect(o).toEqual({ kind: "done", ok: false, messages: [`Error: e${i}`] });
      else if (i % 3 === 1) expect(o).toEqual({ kind: "done", ok: true, messages: [] });
      else expect(o).toEqual({ kind: "done", ok: true, messages: [`Warning: w${i}`] });
    });
    // One process served them all.
    expect(alive(h.pid)).toBe(true);
  });

  it("reports commands in flight as lost when the helper dies, and starts a new one for the next", async () => {
    const h = helper();
    expect(await h.run("ok first")).toMatchObject({ kind: "done", ok: true });
    const first = h.pid;
    const [before, died, after] = await Promise.all([h.run("ok a"), h.run("die"), h.run("ok b")]);
    expect(before).toMatchObject({ kind: "done", ok: true });
    expect(died).toMatchObject({ kind: "lost", reason: expect.stringMatching(/exited/) });
    expect(after).toMatchObject({ kind: "lost" });
    await until(`pid ${first} is gone`, () => !alive(first));
    expect(await h.run("ok again")).toMatchObject({ kind: "done", ok: true });
    expect(h.pid).not.toBe(first);
    expect(alive(h.pid)).toBe(true);
  });

  it("turns unusable after three helpers in a row died without answering, not when one answered first", async () => {
    const h = helper();
    for (let i = 0; i < 2; i++) expect(await h.run("die")).toMatchObject({ kind: "lost" });
    expect(h.usable).toBe(true);
    // A helper that answered once is not barren; it also resets the count.
    expect(await h.run("ok a")).toMatchObject({ kind: "done", ok: true });
    expect(await h.run("die")).toMatchObject({ kind: "lost" });
    for (let i = 0; i < 2; i++) expect(await h.run("die")).toMatchObject({ kind: "lost" });
    expect(h.usable).toBe(true);
    expect(await h.run("die")).toMatchObject({ kind: "lost" });
    expect(h.usable).toBe(false);
  });

  it("kills a helper that does not answer in time and reports the command lost", async () => {
    const h = helper({ commandTimeoutMs: 300 });
    await h.run("ok warm");
    const pid = h.pid;
    const outcome = await h.run("hang");
    expect(outcome).toMatchObject({ kind: "lost", reason: expect.stringMatching(/no answer/) });
    await until(`pid ${pid} is gone`, () => !alive(pid));
  });

  it("times each command from when the helper starts on it, not from when it was queued", async () => {
    const h = helper({ commandTimeoutMs: 1_000 });
    // Six commands of 0.3 s each: the last waits 1.5 s in the queue, longer than the timeout.
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => h.run("slow")));
    expect(outcomes.map((o) => o.kind)).toEqual(["done", "done", "done", "done", "done", "done"]);
  });

  it("treats an answer for a line that was never sent as a broken helper", async () => {
    const h = helper();
    const outcome = await h.run("skew");
    expect(outcome).toMatchObject({ kind: "lost", reason: expect.stringMatching(/out of step/) });
    expect(await h.run("ok next")).toMatchObject({ kind: "done", ok: true });
  });

  it("stops by itself when idle, and close() waits until the process is gone", async () => {
    const idle = helper({ idleMs: 100 });
    await idle.run("ok x");
    const idlePid = idle.pid;
    expect(alive(idlePid)).toBe(true);
    await until(`idle pid ${idlePid} is gone`, () => !alive(idlePid));
    expect(idle.pid).toBeUndefined();

    const closing = helper();
    await closing.run("ok y");
    const pid = closing.pid;
    await closing.close();
    expect(alive(pid)).toBe(false);
    expect(closing.pid).toBeUndefined();
  });

  it("refuses lines that iproute2's batch parser would split or rewrite, without sending them", async () => {
    const h = helper();
    for (const bad of ["ok a\nfail b", "ok 'quoted'", 'ok "x"', "ok # comment", "ok a\\"]) {
      expect(await h.run(bad)).toMatchObject({ kind: "lost", reason: expect.stringMatching(/not sent/) });
    }
    expect(h.pid).toBeUndefined();
  });

  it("reports a helper that cannot start as lost", async () => {
    const h = new IpBatch(join(dir, "no-such-ip"));
    expect(await h.run("ok x")).toMatchObject({ kind: "lost", reason: expect.stringMatching(/ENOENT|cannot run/) });
    await h.close();
  });
});

describe("helperCanHandle", () => {
  it("takes plain names in iproute2's netns directory only", () => {
    for (const name of ["task-1", "berth-t-3f9a1c", "a_b.c", "X9", "svc:1@host+x=y,z"]) {
      expect(helperCanHandle(`/run/netns/${name}`), name).toBe(true);
      expect(helperCanHandle(`/var/run/netns/${name}`), name).toBe(true);
    }
    // Options and keywords (`netns del -all` deletes every namespace), blanks, quotes, comments, escapes.
    for (const name of ["-all", "-x", ".hidden", "a b", "a'b", 'a"b', "a#b", "a\\b", "ü", "x".repeat(201)]) {
      expect(helperCanHandle(`/run/netns/${name}`), name).toBe(false);
    }
    expect(helperCanHandle(join(dir, "task-1"))).toBe(false);
    expect(helperCanHandle("/tmp/netns/task-1")).toBe(false);
  });
});
