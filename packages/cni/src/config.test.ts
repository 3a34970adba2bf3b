import { describe, expect, it } from "vitest";
import { confListFromConf, parseConf, parseConfList, parsePluginConf } from "./config.js";

const bridgeList = {
  cniVersion: "1.0.0",
  name: "berth-net",
  plugins: [
    {
      type: "bridge",
      bridge: "cni0",
      isGateway: true,
      ipam: { type: "host-local", ranges: [[{ subnet: "10.22.0.0/16" }]] },
      dns: { nameservers: ["10.22.0.1"], domain: "local", search: ["a"], options: ["ndots:1"] },
    },
    { type: "portmap", capabilities: { portMappings: true }, snat: true },
  ],
};

describe("parseConfList", () => {
  it("parses a list and preserves unknown keys and the exact bytes", () => {
    const text = JSON.stringify(bridgeList, null, 2);
    const list = parseConfList(text)._unsafeUnwrap();
    expect(list).toMatchObject({
      name: "berth-net",
      cniVersion: "1.0.0",
      disableCheck: false,
      disableGC: false,
      loadOnlyInlinedPlugins: false,
    });
    expect(list.cniVersions).toBeUndefined();
    expect(list.path).toBeUndefined();
    expect(list.plugins).toEqual(bridgeList.plugins);
    expect(list.plugins[1]?.capabilities).toEqual({ portMappings: true });
    expect(list.plugins[0]?.bridge).toBe("cni0");
    expect(new TextDecoder().decode(list.bytes)).toBe(text);
  });

  it("accepts bytes and keeps them as given", () => {
    const bytes = new TextEncoder().encode(JSON.stringify(bridgeList));
    const list = parseConfList(bytes, { path: "/etc/cni/net.d/10-b.conflist" })._unsafeUnwrap();
    expect(list.bytes).toBe(bytes);
    expect(list.path).toBe("/etc/cni/net.d/10-b.conflist");
  });

  it("reads spec 1.1 fields", () => {
    const list = parseConfList(
      JSON.stringify({
        cniVersion: "1.0.0",
        cniVersions: ["0.4.0", "1.1.0"],
        name: "n",
        disableCheck: true,
        disableGC: "TRUE",
        loadOnlyInlinedPlugins: "false",
        plugins: [{ type: "loopback" }],
      }),
    )._unsafeUnwrap();
    expect(list).toMatchObject({ cniVersions: ["0.4.0", "1.1.0"], disableCheck: true, disableGC: true });
    expect(list.loadOnlyInlinedPlugins).toBe(false);
  });

  it("allows a missing cniVersion (the spec's 0.1.0)", () => {
    expect(parseConfList('{"name":"n","plugins":[{"type":"x"}]}')._unsafeUnwrap().cniVersion).toBe("");
  });

  it.each<[string, unknown, string]>([
    ["not JSON", "{", "not valid JSON"],
    ["not an object", "[1]", "expected a JSON object, got a list"],
    ["no name", { cniVersion: "1.0.0", plugins: [{ type: "x" }] }, 'has no "name"'],
    ["a non-string name", { name: 5, plugins: [{ type: "x" }] }, '"name" must be a string'],
    ["a null name", { name: null, plugins: [{ type: "x" }] }, '"name" must be a string, not null'],
    ["an empty name", { name: "", plugins: [{ type: "x" }] }, "network name"],
    ["a name with '/'", { name: "a/b", plugins: [{ type: "x" }] }, 'network name "a/b" is invalid'],
    ["a name starting with '.'", { name: ".n", plugins: [{ type: "x" }] }, "is invalid"],
    [
      "a non-string cniVersion",
      { name: "n", cniVersion: 1, plugins: [{ type: "x" }] },
      '"cniVersion" must be a string',
    ],
    ["a null cniVersion", { name: "n", cniVersion: null, plugins: [{ type: "x" }] }, "not null"],
    ["a bad cniVersion", { name: "n", cniVersion: "v1", plugins: [{ type: "x" }] }, 'invalid CNI version "v1"'],
    ["a non-list cniVersions", { name: "n", cniVersions: "1.0.0", plugins: [{ type: "x" }] }, '"cniVersions" must be'],
    ["a non-string cniVersions entry", { name: "n", cniVersions: ["1.0.0", 1], plugins: [{ type: "x" }] }, "[1]"],
    ["a bad cniVersions entry", { name: "n", cniVersions: ["1.0.0.0"], plugins: [{ type: "x" }] }, "cniVersions[0]"],
    ["a bad disableCheck", { name: "n", disableCheck: "yes", plugins: [{ type: "x" }] }, '"disableCheck" must be'],
    ["a numeric disableGC", { name: "n", disableGC: 1, plugins: [{ type: "x" }] }, '"disableGC" must be'],
    ["no plugins", { name: "n", cniVersion: "1.0.0" }, 'has no "plugins"'],
    ["inline-only without plugins", { name: "n", loadOnlyInlinedPlugins: true }, '"loadOnlyInlinedPlugins" is true'],
    ["a non-list plugins", { name: "n", plugins: { type: "x" } }, '"plugins" must be a list'],
    ["an empty plugins", { name: "n", plugins: [] }, '"plugins" is empty'],
    ["a non-object plugin", { name: "n", plugins: ["bridge"] }, '"plugins"[0] must be a JSON object'],
    [
      "a plugin without type",
      { name: "n", plugins: [{ type: "x" }, { bridge: "b" }] },
      '"plugins"[1] is missing "type"',
    ],
    ["an empty type", { name: "n", plugins: [{ type: "" }] }, 'is missing "type"'],
    ["a numeric type", { name: "n", plugins: [{ type: 1 }] }, '"type" must be a string'],
    ["a type with '/'", { name: "n", plugins: [{ type: "../bin/sh" }] }, "bare plugin binary name"],
    ["non-boolean capabilities", { name: "n", plugins: [{ type: "x", capabilities: { a: "yes" } }] }, '"a" must be'],
    ["a list capabilities", { name: "n", plugins: [{ type: "x", capabilities: ["a"] }] }, '"capabilities" must be'],
    ["a string ipam", { name: "n", plugins: [{ type: "x", ipam: "host-local" }] }, '"ipam" must be an object'],
    ["a numeric ipam type", { name: "n", plugins: [{ type: "x", ipam: { type: 1 } }] }, '"ipam"."type"'],
    [
      "a string dns.nameservers",
      { name: "n", plugins: [{ type: "x", dns: { nameservers: "1.1.1.1" } }] },
      "nameservers",
    ],
    ["a numeric dns.domain", { name: "n", plugins: [{ type: "x", dns: { domain: 1 } }] }, '"dns"."domain"'],
  ])("rejects %s", (_label, input, fragment) => {
    const text = typeof input === "string" ? input : JSON.stringify(input);
    const e = parseConfList(text, { path: "/x/a.conflist" })._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidConfig");
    expect(e.path).toBe("/x/a.conflist");
    expect(e.message).toContain("invalid CNI network configuration list /x/a.conflist");
    expect(e.message).toContain(fragment);
  });

  it("names the network in errors found after the name", () => {
    const e = parseConfList('{"name":"n1","plugins":[]}')._unsafeUnwrapErr();
    expect(e.network).toBe("n1");
  });

  it("tolerates null for typed plugin fields, as Go does", () => {
    const list = parseConfList(
      JSON.stringify({
        name: "n",
        plugins: [{ type: "x", ipam: null, dns: { nameservers: null }, capabilities: null }],
      }),
    );
    expect(list.isOk()).toBe(true);
  });

  it("keeps the last of duplicate keys, as Go's decoder does", () => {
    const list = parseConfList('{"name":"a","name":"b","plugins":[{"type":"x"}]}')._unsafeUnwrap();
    expect(list.name).toBe("b");
  });
});

describe("parseConf and confListFromConf", () => {
  const conf = { cniVersion: "0.3.1", name: "legacy", type: "bridge", bridge: "br0", ipam: { type: "host-local" } };

  it("parses a single-plugin configuration", () => {
    const c = parseConf(JSON.stringify(conf), { path: "/d/10.conf" })._unsafeUnwrap();
    expect(c).toMatchObject({ name: "legacy", cniVersion: "0.3.1", path: "/d/10.conf" });
    expect(c.plugin).toEqual(conf);
  });

  it("converts to a one-plugin list the way libcni's ConfListFromConf does", () => {
    const list = confListFromConf(parseConf(JSON.stringify(conf), { path: "/d/10.conf" })._unsafeUnwrap());
    expect(list).toMatchObject({
      name: "legacy",
      cniVersion: "0.3.1",
      disableCheck: false,
      disableGC: false,
      loadOnlyInlinedPlugins: false,
      path: "/d/10.conf",
    });
    expect(list.plugins).toEqual([conf]);
    // The synthesized bytes are themselves a valid list with the same content.
    const again = parseConfList(list.bytes)._unsafeUnwrap();
    expect(again.name).toBe("legacy");
    expect(again.plugins).toEqual([conf]);
  });

  it.each<[string, unknown, string]>([
    ["no type", { name: "n", cniVersion: "1.0.0" }, 'is missing "type"'],
    ["a conflist", { name: "n", plugins: [{ type: "x" }] }, "is it a .conflist?"],
    ["no name", { type: "bridge" }, 'has no "name"'],
    ["a bad name", { type: "bridge", name: "-x" }, "is invalid"],
    ["a bad cniVersion", { type: "bridge", name: "n", cniVersion: "x" }, 'invalid CNI version "x"'],
  ])("rejects %s", (_label, input, fragment) => {
    const e = parseConf(JSON.stringify(input))._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidConfig");
    expect(e.message).toContain("invalid CNI network configuration");
    expect(e.message).toContain(fragment);
  });
});

describe("parsePluginConf", () => {
  it("needs only a type", () => {
    expect(parsePluginConf('{"type":"tuning","sysctl":{}}')._unsafeUnwrap()).toEqual({ type: "tuning", sysctl: {} });
    expect(parsePluginConf('{"sysctl":{}}', { path: "/p.conf" })._unsafeUnwrapErr().message).toContain(
      'invalid CNI plugin configuration /p.conf: is missing "type"',
    );
  });
});
