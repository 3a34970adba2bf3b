import { describe, expect, it } from "vitest";
import { type CniResult, convertResult, parseResult, resultToJson } from "./result.js";

const v040 = {
  cniVersion: "0.4.0",
  interfaces: [
    { name: "cni0", mac: "aa:bb:cc:dd:ee:ff" },
    { name: "eth0", mac: "11:22:33:44:55:66", sandbox: "/var/run/netns/x" },
  ],
  ips: [
    { version: "4", interface: 1, address: "10.1.0.5/24", gateway: "10.1.0.1" },
    { version: "6", interface: 1, address: "fd00::5/64" },
  ],
  routes: [{ dst: "0.0.0.0/0", gw: "10.1.0.1" }],
  dns: { nameservers: ["10.1.0.1"], search: ["example.internal"] },
};

describe("parseResult", () => {
  it("reads a 0.4.0 result, keeping ips[].version", () => {
    const r = parseResult(v040, "0.4.0")._unsafeUnwrap();
    expect(r.ips?.[0]).toEqual({ version: "4", interface: 1, address: "10.1.0.5/24", gateway: "10.1.0.1" });
    expect(r.dns).toEqual({ nameservers: ["10.1.0.1"], search: ["example.internal"] });
  });

  it("takes the configuration's version when the result has none, and drops unknown keys", () => {
    const r = parseResult({ ips: [{ address: "10.0.0.2/8" }], extra: 1 }, "1.0.0")._unsafeUnwrap();
    expect(r).toEqual({ cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/8" }], dns: {} });
  });

  it("reads 1.1.0 fields (interface mtu, route table)", () => {
    const r = parseResult(
      {
        cniVersion: "1.1.0",
        interfaces: [{ name: "eth0", mtu: 9000, pciID: "0000:00:01.0" }],
        routes: [{ dst: "10.0.0.0/8", table: 100 }],
      },
      "1.1.0",
    )._unsafeUnwrap();
    expect(r.interfaces?.[0]).toEqual({ name: "eth0", mtu: 9000, pciID: "0000:00:01.0" });
    expect(r.routes?.[0]).toEqual({ dst: "10.0.0.0/8", table: 100 });
  });

  it.each([
    ["not an object", "[]"],
    ["a version berth does not read", { cniVersion: "0.2.0", ip4: { ip: "10.0.0.2/8" } }],
    ["ips that is not a list", { cniVersion: "1.0.0", ips: {} }],
    ["an ip without address", { cniVersion: "1.0.0", ips: [{ gateway: "10.0.0.1" }] }],
    [
      "an interface index that is not a number",
      { cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/8", interface: "0" }] },
    ],
    ["a bad ip version", { cniVersion: "0.4.0", ips: [{ address: "10.0.0.2/8", version: "5" }] }],
    ["dns nameservers that are not strings", { cniVersion: "1.0.0", dns: { nameservers: [1] } }],
  ])("rejects %s with InvalidResult", (_what, output) => {
    const e = parseResult(output, "1.0.0", { plugin: "bridge", network: "n" })._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidResult", plugin: "bridge", network: "n" });
  });
});

describe("convertResult", () => {
  const r040 = parseResult(v040, "0.4.0")._unsafeUnwrap();

  it("0.4.0 -> 1.0.0 drops ips[].version; 1.0.0 -> 0.4.0 restores it from the address family", () => {
    const up = convertResult(r040, "1.0.0")._unsafeUnwrap();
    expect(up.cniVersion).toBe("1.0.0");
    expect(up.ips).toEqual([
      { interface: 1, address: "10.1.0.5/24", gateway: "10.1.0.1" },
      { interface: 1, address: "fd00::5/64" },
    ]);
    const down = convertResult(up, "0.4.0")._unsafeUnwrap();
    expect(down).toEqual(r040);
  });

  it("1.1.0 -> 0.3.1 drops the interface fields 0.x does not know; routes keep theirs", () => {
    const r11: CniResult = {
      cniVersion: "1.1.0",
      interfaces: [{ name: "eth0", mac: "11:22:33:44:55:66", mtu: 1400, socketPath: "/s", sandbox: "/ns" }],
      ips: [{ address: "10.0.0.2/24", interface: 0 }],
      routes: [{ dst: "0.0.0.0/0", mtu: 1400 }],
      dns: {},
    };
    const down = convertResult(r11, "0.3.1")._unsafeUnwrap();
    expect(down).toEqual({
      cniVersion: "0.3.1",
      interfaces: [{ name: "eth0", mac: "11:22:33:44:55:66", sandbox: "/ns" }],
      ips: [{ version: "4", address: "10.0.0.2/24", interface: 0 }],
      routes: [{ dst: "0.0.0.0/0", mtu: 1400 }],
      dns: {},
    });
    expect(convertResult(down, "1.1.0")._unsafeUnwrap().ips).toEqual([{ address: "10.0.0.2/24", interface: 0 }]);
  });

  it("between 0.3.0, 0.3.1 and 0.4.0 only the label changes; 1.0.0 <-> 1.1.0 too", () => {
    for (const v of ["0.3.0", "0.3.1"]) {
      expect(convertResult(r040, v)._unsafeUnwrap()).toEqual({ ...r040, cniVersion: v });
    }
    const r10 = convertResult(r040, "1.0.0")._unsafeUnwrap();
    expect(convertResult(r10, "1.1.0")._unsafeUnwrap()).toEqual({ ...r10, cniVersion: "1.1.0" });
  });

  it("fails with IncompatibleVersion outside 0.3.0 ... 1.1.0", () => {
    expect(convertResult(r040, "0.2.0")._unsafeUnwrapErr().code).toBe("IncompatibleVersion");
    expect(convertResult(r040, "1.2.0")._unsafeUnwrapErr().code).toBe("IncompatibleVersion");
  });
});

describe("resultToJson", () => {
  it("writes libcni's struct order with dns always present", () => {
    const r = parseResult(
      {
        dns: {},
        routes: [{ gw: "10.0.0.1", dst: "0.0.0.0/0" }],
        ips: [{ gateway: "10.0.0.1", address: "10.0.0.2/24", interface: 0 }],
        interfaces: [{ sandbox: "/ns", name: "eth0" }],
        cniVersion: "1.0.0",
      },
      "1.0.0",
    )._unsafeUnwrap();
    expect(JSON.stringify(resultToJson(r))).toBe(
      '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/ns"}],' +
        '"ips":[{"interface":0,"address":"10.0.0.2/24","gateway":"10.0.0.1"}],' +
        '"routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1"}],"dns":{}}',
    );
  });

  it("writes ips[].version first for 0.x results", () => {
    const r = parseResult({ cniVersion: "0.3.1", ips: [{ address: "10.0.0.2/24" }] }, "0.3.1")._unsafeUnwrap();
    expect(JSON.stringify(resultToJson(r))).toBe(
      '{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.0.0.2/24"}],"dns":{}}',
    );
  });
});
