import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConf, loadConfDir, loadConfList } from "./config-dir.js";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-cni-conf-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === "string" ? value : JSON.stringify(value));
  return path;
}

const list = (name: string, type = "bridge", extra: Record<string, unknown> = {}) => ({
  cniVersion: "1.0.0",
  name,
  plugins: [{ type }],
  ...extra,
});
const conf = (name: string, type = "bridge") => ({ cniVersion: "0.4.0", name, type });

describe("loadConfList", () => {
  it("loads a file and records its path and bytes", async () => {
    const text = JSON.stringify(list("a"), null, 1);
    const path = write("10-a.conflist", text);
    const l = (await loadConfList(path))._unsafeUnwrap();
    expect(l).toMatchObject({ name: "a", path });
    expect(Buffer.from(l.bytes).toString()).toBe(text);
  });

  it("appends plugin files from the sibling <name>/ directory in lexical order", async () => {
    const path = write("10-a.conflist", list("a", "bridge"));
    mkdirSync(join(dir, "a"));
    write("a/20-b.conf", { type: "tuning" });
    write("a/10-a.conf", { type: "portmap", capabilities: { portMappings: true } });
    write("a/30-ignored.json", { type: "ignored" });
    const l = (await loadConfList(path))._unsafeUnwrap();
    expect(l.plugins.map((p) => p.type)).toEqual(["bridge", "portmap", "tuning"]);
  });

  it("takes all plugins from the sibling directory when the list has none inline", async () => {
    const path = write("10-a.conflist", { cniVersion: "1.0.0", name: "a" });
    mkdirSync(join(dir, "a"));
    write("a/1.conf", { type: "loopback" });
    expect((await loadConfList(path))._unsafeUnwrap().plugins).toEqual([{ type: "loopback" }]);
  });

  it("ignores the sibling directory with loadOnlyInlinedPlugins", async () => {
    const path = write("10-a.conflist", list("a", "bridge", { loadOnlyInlinedPlugins: true }));
    mkdirSync(join(dir, "a"));
    write("a/1.conf", { type: "tuning" });
    expect((await loadConfList(path))._unsafeUnwrap().plugins.map((p) => p.type)).toEqual(["bridge"]);
  });

  it("fails on an invalid sibling plugin file, naming it", async () => {
    const path = write("10-a.conflist", list("a"));
    mkdirSync(join(dir, "a"));
    const bad = write("a/1.conf", { notype: true });
    const e = (await loadConfList(path))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidConfig", path: bad });
  });

  it("fails when no plugins are found anywhere", async () => {
    const path = write("10-a.conflist", { cniVersion: "1.0.0", name: "a" });
    const e = (await loadConfList(path))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidConfig", path, network: "a" });
    expect(e.message).toContain(join(dir, "a", "*.conf"));
  });

  it("maps a missing file to ConfigNotFound with the path", async () => {
    const path = join(dir, "nope.conflist");
    const e = (await loadConfList(path))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "ConfigNotFound", path });
    expect(e.message).toContain(path);
    expect((e.cause as { code?: string }).code).toBe("ENOENT");
  });

  it("maps a directory to IOFailure with the path", async () => {
    const e = (await loadConfList(dir))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "IOFailure", path: dir });
    expect(e.message).toContain("EISDIR");
  });

  it.skipIf(process.getuid?.() === 0)("maps an unreadable file to IOFailure", async () => {
    const path = write("10-a.conflist", list("a"));
    chmodSync(path, 0o000);
    expect((await loadConfList(path))._unsafeUnwrapErr()).toMatchObject({ code: "IOFailure", path });
  });

  it("passes parse errors through with the path", async () => {
    const path = write("10-a.conflist", "{ nope");
    const e = (await loadConfList(path))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidConfig", path });
    expect(e.message).toContain(path);
  });
});

describe("loadConf", () => {
  it("loads a single-plugin file", async () => {
    const path = write("10.conf", conf("single"));
    expect((await loadConf(path))._unsafeUnwrap()).toMatchObject({ name: "single", path });
  });
});

describe("loadConfDir with a name (libcni LoadConfList)", () => {
  it("returns the first .conflist with that name in lexical order", async () => {
    write("20-x.conflist", list("net", "second"));
    write("10-x.conflist", list("net", "first"));
    write("05-other.conflist", list("other"));
    const l = (await loadConfDir(dir, { name: "net" }))._unsafeUnwrap();
    expect(l.plugins[0]?.type).toBe("first");
    expect(l.path).toBe(join(dir, "10-x.conflist"));
  });

  it("sorts bytewise, so upper case comes before lower case", async () => {
    write("a.conflist", list("net", "lower"));
    write("B.conflist", list("net", "upper"));
    expect((await loadConfDir(dir, { name: "net" }))._unsafeUnwrap().plugins[0]?.type).toBe("upper");
  });

  it("prefers any .conflist over a .conf of the same name, whatever the file names", async () => {
    write("00-net.conf", conf("net", "from-conf"));
    write("99-net.conflist", list("net", "from-list"));
    expect((await loadConfDir(dir, { name: "net" }))._unsafeUnwrap().plugins[0]?.type).toBe("from-list");
  });

  it("falls back to .conf and .json files in lexical order and upconverts them", async () => {
    write("10-other.conflist", list("other"));
    write("30-net.conf", conf("net", "later"));
    write("20-net.json", conf("net", "json"));
    const l = (await loadConfDir(dir, { name: "net" }))._unsafeUnwrap();
    expect(l).toMatchObject({ name: "net", cniVersion: "0.4.0", path: join(dir, "20-net.json") });
    expect(l.plugins).toEqual([conf("net", "json")]);
  });

  it("ignores other extensions and subdirectories", async () => {
    write("10-net.conflist.bak", list("net", "backup"));
    write("10-net.yaml", list("net", "yaml"));
    mkdirSync(join(dir, "20-dir.conflist"));
    write("30-net.conflist", list("net", "real"));
    expect((await loadConfDir(dir, { name: "net" }))._unsafeUnwrap().plugins[0]?.type).toBe("real");
  });

  it("treats a hidden file named .conf as a .conf, as Go's filepath.Ext does", async () => {
    write(".conf", conf("hidden"));
    expect((await loadConfDir(dir, { name: "hidden" }))._unsafeUnwrap().name).toBe("hidden");
  });

  it("follows symlinks to files", async () => {
    const target = mkdtempSync(join(tmpdir(), "berth-cni-target-"));
    try {
      writeFileSync(join(target, "real.conflist"), JSON.stringify(list("linked")));
      symlinkSync(join(target, "real.conflist"), join(dir, "10-link.conflist"));
      expect((await loadConfDir(dir, { name: "linked" }))._unsafeUnwrap().name).toBe("linked");
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });

  it("does not skip an invalid file before the match: it fails naming that file", async () => {
    const bad = write("10-bad.conflist", "{");
    write("20-net.conflist", list("net"));
    const e = (await loadConfDir(dir, { name: "net" }))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidConfig", path: bad });
  });

  it("does not look at files after the match", async () => {
    write("10-net.conflist", list("net"));
    write("20-bad.conflist", "{");
    expect((await loadConfDir(dir, { name: "net" })).isOk()).toBe(true);
  });

  it("fails with ConfigNotFound listing the networks it saw", async () => {
    write("10-a.conflist", list("a"));
    write("20-b.conf", conf("b"));
    const e = (await loadConfDir(dir, { name: "missing" }))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "ConfigNotFound", path: dir, network: "missing" });
    expect(e.message).toContain('no CNI network named "missing"');
    expect(e.message).toContain('"a", "b"');
  });

  it("fails with ConfigNotFound for an empty or missing directory", async () => {
    const empty = (await loadConfDir(dir, { name: "x" }))._unsafeUnwrapErr();
    expect(empty).toMatchObject({ code: "ConfigNotFound", path: dir });
    expect(empty.message).toContain("no CNI network configurations in");
    const missing = join(dir, "absent");
    expect((await loadConfDir(missing, { name: "x" }))._unsafeUnwrapErr()).toMatchObject({
      code: "ConfigNotFound",
      path: missing,
    });
  });

  it("maps a path that is not a directory to IOFailure", async () => {
    const file = write("plain", "x");
    const e = (await loadConfDir(file, { name: "x" }))._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "IOFailure", path: file });
    expect(e.message).toContain("ENOTDIR");
  });
});

describe("loadConfDir without a name (go-cni / CRI)", () => {
  it("loads the first configuration of any extension in lexical order", async () => {
    write("20-b.conflist", list("b"));
    write("10-a.conf", conf("a"));
    const l = (await loadConfDir(dir))._unsafeUnwrap();
    expect(l).toMatchObject({ name: "a", path: join(dir, "10-a.conf") });
    expect(l.plugins).toEqual([conf("a")]);
  });

  it("loads a first .conflist as a list", async () => {
    write("01-a.conflist", list("a", "loopback"));
    write("10-b.conf", conf("b"));
    expect((await loadConfDir(dir))._unsafeUnwrap().plugins[0]?.type).toBe("loopback");
  });

  it("fails when the first file is invalid", async () => {
    const bad = write("01-a.json", "[]");
    write("10-b.conflist", list("b"));
    expect((await loadConfDir(dir))._unsafeUnwrapErr()).toMatchObject({ code: "InvalidConfig", path: bad });
  });

  it("fails with ConfigNotFound for an empty directory", async () => {
    write("README", "not a config");
    expect((await loadConfDir(dir))._unsafeUnwrapErr()).toMatchObject({ code: "ConfigNotFound", path: dir });
  });
});
