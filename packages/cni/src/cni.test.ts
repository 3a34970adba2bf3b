import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { addRecorder, type FakePluginDir, fakePluginDir, recordedCalls } from "../test/fake-plugins.js";
import { cacheFilePath } from "./cache.js";
import { createCni } from "./cni.js";
import { buildPluginStdin } from "./invoke.js";
import { networkList } from "./plugins.js";
import { parseResult } from "./result.js";

let fake: FakePluginDir;
let cacheDir: string;
let log: string;

const RESULT_040 =
  '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"/ns"}],' +
  '"ips":[{"version":"4","interface":0,"address":"10.9.0.2/24","gateway":"10.9.0.1"}],"dns":{}}';

beforeEach(() => {
  fake = fakePluginDir();
  cacheDir = mkdtempSync(join(tmpdir(), "berth-cni-unit-"));
  log = join(fake.dir, "calls.jsonl");
  addRecorder(fake, "rec", log);
  addRecorder(fake, "rec2", log);
  fake.add("ipam040", `cat >/dev/null; echo '${RESULT_040}'`);
  fake.add("garbage", "cat >/dev/null; echo 'this is not json'");
  // These misbehave on ADD only; their DEL (run by the rollback) succeeds.
  const onAdd = (body: string) => `cat >/dev/null; if [ "$CNI_COMMAND" = ADD ]; then ${body}; fi; exit 0`;
  fake.add("crash", onAdd("kill -SEGV $$"));
  fake.add("hang", onAdd("exec sleep 30"));
  fake.add("fail", onAdd(`echo '{"code":7,"msg":"bad config","details":"field x"}'; exit 1`));
  fake.add("unavailable", `cat >/dev/null; echo '{"code":50,"msg":"not ready"}'; exit 1`);
});

afterEach(() => {
  fake.remove();
  rmSync(cacheDir, { recursive: true, force: true });
});

const attachment = { containerId: "c1", netns: "/var/run/netns/c1", ifName: "eth0" };

function list(plugins: string[], cniVersion = "1.0.0", extra: Record<string, unknown> = {}) {
  return networkList({
    name: "unit",
    cniVersion,
    plugins: plugins.map((type) => ({ type })),
    ...extra,
  })._unsafeUnwrap();
}

function cni() {
  return createCni({ cniPath: fake.dir, cacheDir, env: { PATH: "/usr/bin:/bin", BERTH_MARK: "1" } });
}

describe("ADD", () => {
  it("chains prevResult, sends libcni's env and stdin, and caches the final result", async () => {
    const l = networkList({
      name: "unit",
      cniVersion: "1.0.0",
      plugins: [{ type: "ipam040" }, { type: "rec", capabilities: { portMappings: true } }],
    })._unsafeUnwrap();
    const caps = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }], other: true };
    const result = (await cni().add(l, { ...attachment, args: [["A", "1"]], capabilityArgs: caps }))._unsafeUnwrap();
    // libcni keeps a result in the version the plugin printed.
    expect(result.cniVersion).toBe("0.4.0");
    const [call] = recordedCalls(log);
    expect(call?.env).toEqual({
      PATH: "/usr/bin:/bin",
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "c1",
      CNI_NETNS: "/var/run/netns/c1",
      CNI_ARGS: "A=1",
      CNI_IFNAME: "eth0",
      CNI_PATH: fake.dir,
    });
    const prev = parseResult(JSON.parse(RESULT_040), "1.0.0")._unsafeUnwrap();
    expect(call?.stdin).toBe(
      buildPluginStdin(l.plugins[1] ?? { type: "rec" }, {
        network: "unit",
        cniVersion: "1.0.0",
        prevResult: prev,
        capabilityArgs: caps,
      }),
    );
    expect(JSON.parse(call?.stdin ?? "{}")).toMatchObject({
      runtimeConfig: { portMappings: caps.portMappings },
      prevResult: { cniVersion: "0.4.0" },
    });
    const cached = (await cni().cachedAttachment(l, attachment))._unsafeUnwrap();
    expect(cached?.attachment.result).toMatchObject({ cniVersion: "0.4.0" });
    // Read back converted to the list's version.
    expect(cached?.result?.cniVersion).toBe("1.0.0");
    expect(cached?.result?.ips).toEqual([{ interface: 0, address: "10.9.0.2/24", gateway: "10.9.0.1" }]);
  });

  it.each([
    ["garbage", "InvalidResult"],
    ["crash", "PluginFailed"],
    ["fail", "InvalidConfig"],
  ])("a plugin that fails (%s) gives %s and rolls back the earlier plugins in reverse", async (bad, code) => {
    const l = list(["rec", "rec2", bad, "rec"]);
    const e = (await cni().add(l, attachment))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code, plugin: bad, network: "unit" });
    expect(e.message).toContain(`rolled back: DEL ran for ${bad}, rec2, rec`);
    const calls = recordedCalls(log).map((c) => c.env.CNI_COMMAND);
    expect(calls).toEqual(["ADD", "ADD", "DEL", "DEL"]);
    expect(existsSync(cacheFilePath(cacheDir, "unit", "c1", "eth0"))).toBe(false);
  });

  it("a hanging plugin is killed at the operation's deadline (Timeout), then rolled back", async () => {
    const started = Date.now();
    const e = (await cni().add(list(["rec", "hang"]), attachment, { timeoutMs: 1500 }))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "Timeout", plugin: "hang", network: "unit" });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(recordedCalls(log).map((c) => c.env.CNI_COMMAND)).toEqual(["ADD", "DEL"]);
  });

  it("an abort kills the plugin (Aborted)", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const e = (
      await cni().add(list(["hang"]), attachment, { signal: controller.signal, rollback: false })
    )._unsafeUnwrapErr();
    expect(e.code).toBe("Aborted");
  });

  it("a missing plugin is PluginNotFound naming the directories searched", async () => {
    const c = createCni({ cniPath: [fake.dir, "/nonexistent/cni"], cacheDir });
    const e = (await c.add(list(["rec", "no-such-plugin"]), attachment))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "PluginNotFound", plugin: "no-such-plugin", network: "unit" });
    expect(e.message).toContain(fake.dir);
    expect(e.message).toContain("/nonexistent/cni");
  });

  it("rejects a bad container id or interface name before running anything", async () => {
    const e = (await cni().add(list(["rec"]), { ...attachment, containerId: "../x" }))._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidEnvironment");
    expect(recordedCalls(log)).toEqual([]);
  });
});

describe("DEL", () => {
  it("runs the plugins in reverse with the cached result converted to the list's version, then removes the cache", async () => {
    const l = list(["ipam040", "rec"]);
    (await cni().add(l, attachment))._unsafeUnwrap();
    (await cni().del(l, { containerId: "c1", ifName: "eth0" }))._unsafeUnwrap();
    const del = recordedCalls(log).at(-1);
    expect(del?.env).toMatchObject({ CNI_COMMAND: "DEL", CNI_NETNS: "" });
    const prev = (JSON.parse(del?.stdin ?? "{}") as { prevResult: unknown }).prevResult;
    expect(prev).toEqual({
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: "/ns" }],
      ips: [{ interface: 0, address: "10.9.0.2/24", gateway: "10.9.0.1" }],
      dns: {},
    });
    expect(existsSync(cacheFilePath(cacheDir, "unit", "c1", "eth0"))).toBe(false);
  });

  it("sends no prevResult below 0.4.0, as libcni", async () => {
    const l = list(["ipam040", "rec"], "0.3.1");
    (await cni().add(l, attachment))._unsafeUnwrap();
    (await cni().del(l, attachment))._unsafeUnwrap();
    expect(JSON.parse(recordedCalls(log).at(-1)?.stdin ?? "{}")).not.toHaveProperty("prevResult");
  });

  it("uses the cached capability args when the caller gives none", async () => {
    const l = networkList({
      name: "unit",
      cniVersion: "1.0.0",
      plugins: [{ type: "rec", capabilities: { mac: true } }],
    })._unsafeUnwrap();
    (await cni().add(l, { ...attachment, capabilityArgs: { mac: "02:00:00:00:00:01" } }))._unsafeUnwrap();
    (await cni().del(l, attachment))._unsafeUnwrap();
    expect(JSON.parse(recordedCalls(log).at(-1)?.stdin ?? "{}")).toMatchObject({
      runtimeConfig: { mac: "02:00:00:00:00:01" },
    });
  });

  it("proceeds without prevResult when the cache file is corrupt, and removes it", async () => {
    const l = list(["rec"]);
    (await cni().add(l, attachment))._unsafeUnwrap();
    const file = cacheFilePath(cacheDir, "unit", "c1", "eth0");
    writeFileSync(file, "\u0000\u0000garbage");
    (await cni().del(l, attachment))._unsafeUnwrap();
    expect(JSON.parse(recordedCalls(log).at(-1)?.stdin ?? "{}")).not.toHaveProperty("prevResult");
    expect(existsSync(file)).toBe(false);
  });

  it("keeps the cache file when a plugin's DEL fails (so DEL can be retried)", async () => {
    const l = list(["rec"]);
    (await cni().add(l, attachment))._unsafeUnwrap();
    const failing = list(["rec", "unavailable"]);
    expect((await cni().del(failing, attachment))._unsafeUnwrapErr().plugin).toBe("unavailable");
    expect(existsSync(cacheFilePath(cacheDir, "unit", "c1", "eth0"))).toBe(true);
  });
});

describe("CHECK", () => {
  it("is IncompatibleVersion below 0.4.0 and a no-op with disableCheck", async () => {
    expect((await cni().check(list(["rec"], "0.3.1"), attachment))._unsafeUnwrapErr().code).toBe("IncompatibleVersion");
    (await cni().check(list(["rec"], "1.0.0", { disableCheck: true }), attachment))._unsafeUnwrap();
    expect(recordedCalls(log)).toEqual([]);
  });

  it("runs forward with the cached result; fails on a corrupt cache", async () => {
    const l = list(["ipam040", "rec"]);
    (await cni().add(l, attachment))._unsafeUnwrap();
    (await cni().check(list(["rec", "rec2"]), attachment))._unsafeUnwrap();
    const calls = recordedCalls(log).slice(-2);
    expect(calls.map((c) => c.env.CNI_COMMAND)).toEqual(["CHECK", "CHECK"]);
    for (const c of calls) expect(JSON.parse(c.stdin)).toMatchObject({ prevResult: { cniVersion: "1.0.0" } });
    writeFileSync(cacheFilePath(cacheDir, "unit", "c1", "eth0"), "");
    expect((await cni().check(l, attachment))._unsafeUnwrapErr().code).toBe("IOFailure");
  });
});

describe("STATUS and GC", () => {
  it("STATUS stops at the first error, tagged PluginNotAvailable; a no-op below 1.1.0", async () => {
    const e = (await cni().status(list(["rec", "unavailable", "rec2"], "1.1.0")))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "PluginNotAvailable", cniCode: 50, plugin: "unavailable" });
    expect(recordedCalls(log).map((c) => c.env.CNI_COMMAND)).toEqual(["STATUS"]);
    (await cni().status(list(["unavailable"], "1.0.0")))._unsafeUnwrap();
  });

  it("GC keeps going after failures and reports the first", async () => {
    fake.add("broken", `cat >/dev/null; echo '{"code":5,"msg":"disk"}'; exit 1`);
    const e = (await cni().gc(list(["broken", "rec", "unavailable"], "1.1.0"), []))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "IOFailure", plugin: "broken" });
    expect(e.message).toContain("and 1 more GC failure(s)");
    expect(recordedCalls(log).map((c) => c.env.CNI_COMMAND)).toEqual(["GC"]);
  });

  it("GC is a no-op with disableGC", async () => {
    (await cni().gc(list(["fail"], "1.1.0", { disableGC: true }), []))._unsafeUnwrap();
  });
});
