import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  cacheFilePath,
  decodeCachedAttachment,
  deleteCachedAttachment,
  encodeCachedAttachment,
  listCachedAttachments,
  readCachedAttachment,
  writeCachedAttachment,
} from "./cache.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-cni-cache-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const entry = {
  containerId: "c1",
  networkName: "net",
  ifName: "eth0",
  netns: "/var/run/netns/c1",
  cniArgs: [["K", "V"]] as const,
  capabilityArgs: { portMappings: [{ hostPort: 80, containerPort: 8080 }] },
  config: new TextEncoder().encode('{"name":"net"}'),
  result: { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24" }], dns: {} },
};

describe("the libcni cache format", () => {
  it("writes libcni's key order, base64 config and sorted maps", () => {
    expect(encodeCachedAttachment(entry)).toBe(
      '{"kind":"cniCacheV1","containerId":"c1","config":"eyJuYW1lIjoibmV0In0=","ifName":"eth0","networkName":"net",' +
        '"netns":"/var/run/netns/c1","cniArgs":[["K","V"]],' +
        '"capabilityArgs":{"portMappings":[{"containerPort":8080,"hostPort":80}]},' +
        '"result":{"cniVersion":"1.0.0","dns":{},"ips":[{"address":"10.0.0.2/24"}]}}',
    );
  });

  it("omits empty optional fields, as Go's omitempty does", () => {
    const text = encodeCachedAttachment({ containerId: "c", networkName: "n", ifName: "e", config: new Uint8Array() });
    expect(text).toBe('{"kind":"cniCacheV1","containerId":"c","config":"","ifName":"e","networkName":"n"}');
  });

  it("decodes what it encodes", () => {
    const decoded = decodeCachedAttachment(encodeCachedAttachment(entry), "/p")._unsafeUnwrap();
    expect(decoded).toEqual({ ...entry, cniArgs: [["K", "V"]], config: new Uint8Array(entry.config), path: "/p" });
  });

  it.each([
    ["", "empty"],
    ["{", "not JSON"],
    ['{"kind":"other","containerId":"c","ifName":"e","networkName":"n"}', "kind"],
    ['{"kind":"cniCacheV1","containerId":"c"}', "missing"],
  ])("rejects %j", (text, why) => {
    expect(decodeCachedAttachment(text, "/p")._unsafeUnwrapErr()).toContain(why);
  });
});

describe("cache files", () => {
  it("are written at libcni's path with mode 0600 in a 0700 directory, then read and removed", async () => {
    const path = (await writeCachedAttachment(dir, entry))._unsafeUnwrap();
    expect(path).toBe(join(dir, "results", "net-c1-eth0"));
    expect(path).toBe(cacheFilePath(dir, "net", "c1", "eth0"));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "results")).mode & 0o777).toBe(0o700);
    expect(readFileSync(path, "utf8")).toBe(encodeCachedAttachment(entry));
    const read = (await readCachedAttachment(dir, "net", "c1", "eth0"))._unsafeUnwrap();
    expect(read.state === "ok" && read.entry.containerId).toBe("c1");
    (await deleteCachedAttachment(dir, "net", "c1", "eth0"))._unsafeUnwrap();
    expect((await readCachedAttachment(dir, "net", "c1", "eth0"))._unsafeUnwrap()).toEqual({ state: "missing" });
    (await deleteCachedAttachment(dir, "net", "c1", "eth0"))._unsafeUnwrap();
  });

  it("reports an empty file as corrupt instead of failing", async () => {
    (await writeCachedAttachment(dir, entry))._unsafeUnwrap();
    writeFileSync(cacheFilePath(dir, "net", "c1", "eth0"), "");
    const read = (await readCachedAttachment(dir, "net", "c1", "eth0"))._unsafeUnwrap();
    expect(read).toMatchObject({ state: "corrupt", reason: "the file is empty" });
  });

  it("are listed in byte order, filtered, skipping unreadable ones, like GetCachedAttachments", async () => {
    expect((await listCachedAttachments(join(dir, "nothing")))._unsafeUnwrap()).toEqual([]);
    for (const [networkName, containerId, ifName] of [
      ["b", "c1", "eth0"],
      ["a", "c2", "eth0"],
      ["a", "c1", "eth1"],
    ] as const) {
      (await writeCachedAttachment(dir, { ...entry, networkName, containerId, ifName }))._unsafeUnwrap();
    }
    writeFileSync(join(dir, "results", "a-broken-eth0"), "{");
    const all = (await listCachedAttachments(dir))._unsafeUnwrap();
    expect(all.map((a) => `${a.networkName}/${a.containerId}/${a.ifName}`)).toEqual([
      "a/c1/eth1",
      "a/c2/eth0",
      "b/c1/eth0",
    ]);
    const c1 = (await listCachedAttachments(dir, { containerId: "c1" }))._unsafeUnwrap();
    expect(c1.map((a) => a.networkName)).toEqual(["a", "b"]);
    const a = (await listCachedAttachments(dir, { network: "a" }))._unsafeUnwrap();
    expect(a.map((x) => x.containerId)).toEqual(["c1", "c2"]);
  });
});
