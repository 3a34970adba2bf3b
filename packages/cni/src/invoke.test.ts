import { describe, expect, it } from "vitest";
import { buildPluginStdin, pluginEnv, runtimeConfigFor, validateAttachment } from "./invoke.js";
import { parseResult } from "./result.js";

const plugin = {
  type: "portmap",
  zeta: "<&>",
  capabilities: { portMappings: true, bandwidth: false },
  alpha: { b: 1, a: 2 },
};

describe("runtimeConfigFor", () => {
  it("keeps only the capability args the plugin enables", () => {
    const args = { portMappings: [{ hostPort: 80, containerPort: 8080 }], bandwidth: { ingressRate: 1 }, ips: ["x"] };
    expect(runtimeConfigFor(plugin, args)).toEqual({ portMappings: args.portMappings });
    expect(runtimeConfigFor(plugin, { ips: ["x"] })).toBeUndefined();
    expect(runtimeConfigFor({ type: "bridge" }, args)).toBeUndefined();
  });
});

describe("buildPluginStdin (libcni's buildOneConfig bytes)", () => {
  it("injects name and cniVersion, sorts keys and escapes like Go", () => {
    expect(buildPluginStdin(plugin, { network: "net", cniVersion: "1.0.0" })).toBe(
      '{"alpha":{"a":2,"b":1},"capabilities":{"bandwidth":false,"portMappings":true},"cniVersion":"1.0.0",' +
        '"name":"net","type":"portmap","zeta":"\\u003c\\u0026\\u003e"}',
    );
  });

  it("overrides the plugin's own name and cniVersion", () => {
    const text = buildPluginStdin(
      { type: "bridge", name: "other", cniVersion: "0.3.0" },
      { network: "n", cniVersion: "1.1.0" },
    );
    expect(JSON.parse(text)).toEqual({ type: "bridge", name: "n", cniVersion: "1.1.0" });
  });

  const prev = parseResult(
    { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24", interface: 0 }], interfaces: [{ name: "eth0" }] },
    "1.0.0",
  )._unsafeUnwrap();

  it("puts prevResult in Go struct order when there is no runtimeConfig", () => {
    expect(buildPluginStdin({ type: "tuning" }, { network: "n", cniVersion: "1.0.0", prevResult: prev })).toBe(
      '{"cniVersion":"1.0.0","name":"n","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],' +
        '"ips":[{"interface":0,"address":"10.0.0.2/24"}],"dns":{}},"type":"tuning"}',
    );
  });

  it("sorts prevResult too once runtimeConfig is injected (libcni decodes the config again)", () => {
    const text = buildPluginStdin(plugin, {
      network: "n",
      cniVersion: "1.0.0",
      prevResult: prev,
      capabilityArgs: { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: "tcp" }] },
    });
    expect(text).toContain(
      '"prevResult":{"cniVersion":"1.0.0","dns":{},"interfaces":[{"name":"eth0"}],"ips":[{"address":"10.0.0.2/24","interface":0}]}',
    );
    expect(text).toContain('"runtimeConfig":{"portMappings":[{"containerPort":8080,"hostPort":80,"protocol":"tcp"}]}');
    expect(Object.keys(JSON.parse(text) as object)).toEqual([...Object.keys(JSON.parse(text) as object)].sort());
  });
});

describe("pluginEnv (libcni's Args.AsEnv)", () => {
  it("adds all six CNI_* variables after the base environment, overriding it", () => {
    const env = pluginEnv(
      { PATH: "/usr/sbin:/usr/bin", CNI_COMMAND: "stale", SKIP: undefined },
      {
        command: "ADD",
        containerId: "c1",
        netns: "/var/run/netns/x",
        ifName: "eth0",
        args: [
          ["K8S_POD_NAME", "web"],
          ["IgnoreUnknown", "1"],
        ],
        cniPath: ["/opt/cni/bin", "/usr/lib/cni"],
      },
    );
    expect(env).toEqual({
      PATH: "/usr/sbin:/usr/bin",
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "c1",
      CNI_NETNS: "/var/run/netns/x",
      CNI_ARGS: "K8S_POD_NAME=web;IgnoreUnknown=1",
      CNI_IFNAME: "eth0",
      CNI_PATH: "/opt/cni/bin:/usr/lib/cni",
    });
  });

  it("leaves the variables empty that a command does not use", () => {
    const env = pluginEnv({}, { command: "GC", cniPath: ["/p"] });
    expect(env).toEqual({
      CNI_COMMAND: "GC",
      CNI_CONTAINERID: "",
      CNI_NETNS: "",
      CNI_ARGS: "",
      CNI_IFNAME: "",
      CNI_PATH: "/p",
    });
  });
});

describe("validateAttachment", () => {
  it.each([
    ["", "eth0"],
    ["-c", "eth0"],
    ["a/b", "eth0"],
    ["c1", ""],
    ["c1", "a-very-long-ifname"],
    ["c1", "eth/0"],
    ["c1", "eth:0"],
    ["c1", "eth 0"],
    ["c1", ".."],
  ])("rejects container %j / interface %j with InvalidEnvironment", (containerId, ifName) => {
    expect(validateAttachment({ containerId, ifName }, "n")._unsafeUnwrapErr()).toMatchObject({
      code: "InvalidEnvironment",
      network: "n",
    });
  });

  it("accepts libcni's valid shapes", () => {
    expect(validateAttachment({ containerId: "0abc_d.e-f", ifName: "eth0.100" }).isOk()).toBe(true);
  });
});
