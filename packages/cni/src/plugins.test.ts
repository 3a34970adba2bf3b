import { describe, expect, it } from "vitest";
import {
  appMeshPlugin,
  bandwidthPlugin,
  bridgePlugin,
  firewallPlugin,
  hostLocalIpam,
  ipvlanPlugin,
  loopbackPlugin,
  macvlanPlugin,
  networkList,
  portmapPlugin,
  ptpPlugin,
  serviceConnectPlugin,
  staticIpam,
  tuningPlugin,
  vpcBranchEniPlugin,
  vpcEniPlugin,
} from "./plugins.js";

describe("plugin builders", () => {
  it("bridge with host-local: the shape the bridge plugin reads, undefined fields left out", () => {
    expect(
      bridgePlugin({
        bridge: "cni0",
        isGateway: true,
        ipam: hostLocalIpam({
          subnets: ["10.22.0.0/16", { subnet: "fd00::/64", rangeStart: "fd00::10" }],
          routes: [{ dst: "0.0.0.0/0" }],
          dataDir: "/run/ipam",
        }),
        extra: { custom: 1 },
      }),
    ).toEqual({
      type: "bridge",
      bridge: "cni0",
      isGateway: true,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: "10.22.0.0/16" }], [{ subnet: "fd00::/64", rangeStart: "fd00::10" }]],
        routes: [{ dst: "0.0.0.0/0" }],
        dataDir: "/run/ipam",
      },
      custom: 1,
    });
  });

  it("portmap and bandwidth declare their capability by default", () => {
    expect(portmapPlugin()).toEqual({ type: "portmap", capabilities: { portMappings: true } });
    expect(portmapPlugin({ snat: false, capabilities: { portMappings: false } })).toEqual({
      type: "portmap",
      snat: false,
      capabilities: { portMappings: false },
    });
    expect(bandwidthPlugin({ ingressRate: 1000, ingressBurst: 100 })).toEqual({
      type: "bandwidth",
      ingressRate: 1000,
      ingressBurst: 100,
      capabilities: { bandwidth: true },
    });
  });

  it("the other common plugins", () => {
    expect(loopbackPlugin()).toEqual({ type: "loopback" });
    expect(firewallPlugin({ backend: "iptables" })).toEqual({ type: "firewall", backend: "iptables" });
    expect(tuningPlugin({ sysctl: { "net.core.somaxconn": "500" }, mtu: 1400 })).toEqual({
      type: "tuning",
      sysctl: { "net.core.somaxconn": "500" },
      mtu: 1400,
    });
    expect(ptpPlugin({ ipam: staticIpam({ addresses: [{ address: "10.1.0.2/24" }] }) })).toEqual({
      type: "ptp",
      ipam: { type: "static", addresses: [{ address: "10.1.0.2/24" }] },
    });
    expect(macvlanPlugin({ master: "eth0", mode: "bridge" })).toEqual({
      type: "macvlan",
      master: "eth0",
      mode: "bridge",
    });
    expect(ipvlanPlugin({ master: "eth0", mode: "l3" })).toEqual({ type: "ipvlan", master: "eth0", mode: "l3" });
  });

  it("AWS's ECS plugins", () => {
    expect(
      vpcEniPlugin({
        eniName: "eth1",
        eniMACAddress: "02:00:00:00:00:01",
        eniIPAddresses: ["10.0.0.5/24"],
        blockInstanceMetadata: true,
      }),
    ).toEqual({
      type: "vpc-eni",
      eniName: "eth1",
      eniMACAddress: "02:00:00:00:00:01",
      eniIPAddresses: ["10.0.0.5/24"],
      blockInstanceMetadata: true,
    });
    expect(
      vpcBranchEniPlugin({
        branchVlanID: "101",
        branchMACAddress: "02:00:00:00:00:02",
        ipAddresses: ["10.0.1.5/24"],
        interfaceType: "vlan",
      }),
    ).toMatchObject({ type: "vpc-branch-eni", branchVlanID: "101", interfaceType: "vlan" });
    expect(
      serviceConnectPlugin({
        ingressConfig: [{ listenerPort: 15000, interceptPort: 8080 }],
        egressConfig: { listenerPort: 15001, vip: { ipv4Cidr: "127.255.0.0/16" } },
        enableIPv4: true,
      }),
    ).toMatchObject({ type: "ecs-serviceconnect", egressConfig: { listenerPort: 15001 } });
    expect(
      appMeshPlugin({ ignoredUID: "1337", proxyIngressPort: "15000", proxyEgressPort: "15001", appPorts: ["8080"] }),
    ).toEqual({
      type: "aws-appmesh",
      ignoredUID: "1337",
      proxyIngressPort: "15000",
      proxyEgressPort: "15001",
      appPorts: ["8080"],
    });
  });
});

describe("networkList", () => {
  it("validates like a .conflist and keeps the JSON as bytes", () => {
    const l = networkList({ name: "n", cniVersion: "1.0.0", plugins: [loopbackPlugin()] })._unsafeUnwrap();
    expect(l.plugins).toEqual([{ type: "loopback" }]);
    expect(new TextDecoder().decode(l.bytes)).toBe('{"name":"n","cniVersion":"1.0.0","plugins":[{"type":"loopback"}]}');
  });

  it("rejects what parseConfList rejects", () => {
    expect(
      networkList({ name: "bad name", cniVersion: "1.0.0", plugins: [loopbackPlugin()] })._unsafeUnwrapErr().code,
    ).toBe("InvalidConfig");
    expect(networkList({ name: "n", cniVersion: "1.0.0", plugins: [] })._unsafeUnwrapErr().code).toBe("InvalidConfig");
  });
});
