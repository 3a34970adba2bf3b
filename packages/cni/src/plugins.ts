import type { Result } from "neverthrow";
import { type NetworkConfigList, type PluginConfig, parseConfList } from "./config.js";
import type { CniError } from "./errors.js";

// Typed builders for the configuration of common plugins (containernetworking/plugins) and of AWS's ECS plugins.
// Each returns a plain PluginConfig; fields left undefined are omitted; `extra` keys pass through unchanged.

/** Keys every plugin configuration may carry. */
export interface CommonPluginOptions {
  /** Capability args the plugin accepts from the runtime, e.g. `{ portMappings: true }`. */
  readonly capabilities?: Readonly<Record<string, boolean>>;
  /** Any further keys, passed to the plugin as written. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A route for IPAM configurations. */
export interface IpamRoute {
  readonly dst: string;
  readonly gw?: string;
}

/** One range of a host-local range set. */
export interface HostLocalRange {
  readonly subnet: string;
  readonly rangeStart?: string;
  readonly rangeEnd?: string;
  readonly gateway?: string;
}

/** host-local IPAM: addresses from ranges, leases as files in `dataDir` (locked per network by the plugin). */
export interface HostLocalIpam {
  readonly type: "host-local";
  /** Range sets; each set yields one address (one set per address family, typically). */
  readonly ranges: ReadonlyArray<ReadonlyArray<HostLocalRange>>;
  readonly routes?: readonly IpamRoute[];
  /** Lease directory; default `/var/lib/cni/networks`. */
  readonly dataDir?: string;
  readonly resolvConf?: string;
}

/** static IPAM: fixed addresses. */
export interface StaticIpam {
  readonly type: "static";
  readonly addresses?: ReadonlyArray<{ readonly address: string; readonly gateway?: string }>;
  readonly routes?: readonly IpamRoute[];
  readonly dns?: {
    readonly nameservers?: readonly string[];
    readonly domain?: string;
    readonly search?: readonly string[];
  };
}

/** Any IPAM configuration: the typed ones or another plugin's object. */
export type IpamConfig = HostLocalIpam | StaticIpam | { readonly type: string; readonly [key: string]: unknown };

/** host-local IPAM from one or more subnets (one range set per subnet). */
export function hostLocalIpam(options: {
  readonly subnets: ReadonlyArray<string | HostLocalRange>;
  readonly routes?: readonly IpamRoute[];
  readonly dataDir?: string;
  readonly resolvConf?: string;
}): HostLocalIpam {
  return clean({
    type: "host-local",
    ranges: options.subnets.map((s) => [typeof s === "string" ? { subnet: s } : clean({ ...s })]),
    routes: options.routes,
    dataDir: options.dataDir,
    resolvConf: options.resolvConf,
  }) as HostLocalIpam;
}

/** static IPAM with fixed addresses. */
export function staticIpam(options: Omit<StaticIpam, "type">): StaticIpam {
  return clean({ type: "static", ...options }) as StaticIpam;
}

function plugin(type: string, fields: Record<string, unknown>, common: CommonPluginOptions): PluginConfig {
  return clean({ type, ...fields, capabilities: common.capabilities, ...common.extra }) as PluginConfig;
}

function clean<T extends Record<string, unknown>>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** Options of the `bridge` plugin. */
export interface BridgeOptions extends CommonPluginOptions {
  /** The bridge's name (default `cni0`). */
  readonly bridge?: string;
  readonly isGateway?: boolean;
  readonly isDefaultGateway?: boolean;
  readonly forceAddress?: boolean;
  readonly ipMasq?: boolean;
  readonly ipMasqBackend?: "iptables" | "nftables";
  readonly mtu?: number;
  readonly hairpinMode?: boolean;
  readonly promiscMode?: boolean;
  readonly vlan?: number;
  readonly preserveDefaultVlan?: boolean;
  readonly macspoofchk?: boolean;
  readonly enabledad?: boolean;
  readonly portIsolation?: boolean;
  readonly ipam?: IpamConfig;
}

/** The `bridge` plugin: a Linux bridge on the host and a veth pair into the namespace. */
export function bridgePlugin(options: BridgeOptions = {}): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("bridge", fields, options);
}

/** Options of the `ptp` plugin. */
export interface PtpOptions extends CommonPluginOptions {
  readonly ipMasq?: boolean;
  readonly mtu?: number;
  readonly ipam?: IpamConfig;
}

/** The `ptp` plugin: a veth pair with host routes, no bridge. */
export function ptpPlugin(options: PtpOptions = {}): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("ptp", fields, options);
}

/** Options of the `macvlan` plugin. */
export interface MacvlanOptions extends CommonPluginOptions {
  /** The host interface (default: the default route's). */
  readonly master?: string;
  readonly mode?: "bridge" | "private" | "vepa" | "passthru";
  readonly mtu?: number;
  readonly linkInContainer?: boolean;
  readonly ipam?: IpamConfig;
}

/** The `macvlan` plugin. */
export function macvlanPlugin(options: MacvlanOptions = {}): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("macvlan", fields, options);
}

/** Options of the `ipvlan` plugin. */
export interface IpvlanOptions extends CommonPluginOptions {
  readonly master?: string;
  readonly mode?: "l2" | "l3" | "l3s";
  readonly mtu?: number;
  readonly linkInContainer?: boolean;
  readonly ipam?: IpamConfig;
}

/** The `ipvlan` plugin. */
export function ipvlanPlugin(options: IpvlanOptions = {}): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("ipvlan", fields, options);
}

/** The `loopback` plugin: brings `lo` up in the namespace. */
export function loopbackPlugin(options: CommonPluginOptions = {}): PluginConfig {
  return plugin("loopback", {}, options);
}

/** One port mapping (the `portMappings` capability arg). */
export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol?: "tcp" | "udp" | "sctp";
  readonly hostIP?: string;
}

/** Options of the `portmap` plugin. */
export interface PortmapOptions extends CommonPluginOptions {
  readonly snat?: boolean;
  readonly markMasqBit?: number;
  readonly externalSetMarkChain?: string;
  readonly conditionsV4?: readonly string[];
  readonly conditionsV6?: readonly string[];
  readonly backend?: "iptables" | "nftables";
}

/** The `portmap` plugin; `capabilities` default to `{ portMappings: true }`. */
export function portmapPlugin(options: PortmapOptions = {}): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("portmap", fields, { ...options, capabilities: options.capabilities ?? { portMappings: true } });
}

/** Options of the `bandwidth` plugin (bits per second, bits). */
export interface BandwidthOptions extends CommonPluginOptions {
  readonly ingressRate?: number;
  readonly ingressBurst?: number;
  readonly egressRate?: number;
  readonly egressBurst?: number;
}

/** The `bandwidth` plugin; `capabilities` default to `{ bandwidth: true }`. */
export function bandwidthPlugin(options: BandwidthOptions = {}): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("bandwidth", fields, { ...options, capabilities: options.capabilities ?? { bandwidth: true } });
}

/** Options of the `firewall` plugin. */
export interface FirewallOptions extends CommonPluginOptions {
  /** `iptables` (default unless firewalld runs) or `firewalld`. */
  readonly backend?: "iptables" | "firewalld";
  readonly firewalldZone?: string;
  readonly iptablesAdminChainName?: string;
  readonly ingressPolicy?: "open" | "same-bridge" | "isolated";
}

/** The `firewall` plugin: lets the container's traffic through the host's firewall. */
export function firewallPlugin(options: FirewallOptions = {}): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("firewall", fields, options);
}

/** Options of the `tuning` plugin. */
export interface TuningOptions extends CommonPluginOptions {
  readonly sysctl?: Readonly<Record<string, string>>;
  readonly mac?: string;
  readonly mtu?: number;
  readonly promisc?: boolean;
  readonly allmulti?: boolean;
  readonly txQLen?: number;
}

/** The `tuning` plugin: sysctls and link settings of the container interface. */
export function tuningPlugin(options: TuningOptions = {}): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("tuning", fields, options);
}

/** Options of AWS's `vpc-eni` plugin (ECS awsvpc tasks). */
export interface VpcEniOptions extends CommonPluginOptions {
  readonly eniName?: string;
  readonly eniMACAddress: string;
  readonly eniIPAddresses: readonly string[];
  readonly gatewayIPAddresses?: readonly string[];
  readonly opStateDown?: boolean;
  readonly useExistingNetwork?: boolean;
  readonly blockInstanceMetadata?: boolean;
  readonly dns?: { readonly nameservers?: readonly string[]; readonly search?: readonly string[] };
}

/** AWS's `vpc-eni` plugin: moves an ENI into the task's namespace. */
export function vpcEniPlugin(options: VpcEniOptions): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("vpc-eni", fields, options);
}

/** Options of AWS's `vpc-branch-eni` plugin (ENI trunking). */
export interface VpcBranchEniOptions extends CommonPluginOptions {
  readonly trunkName?: string;
  readonly trunkMACAddress?: string;
  readonly branchVlanID: string;
  readonly branchMACAddress: string;
  readonly ipAddresses: readonly string[];
  readonly gatewayIPAddresses?: readonly string[];
  readonly blockInstanceMetadata?: boolean;
  readonly interfaceType?: "vlan" | "tap" | "macvtap";
  readonly uid?: string;
  readonly gid?: string;
}

/** AWS's `vpc-branch-eni` plugin: a VLAN branch of a trunk ENI. */
export function vpcBranchEniPlugin(options: VpcBranchEniOptions): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("vpc-branch-eni", fields, options);
}

/** Options of AWS's `ecs-serviceconnect` plugin. */
export interface ServiceConnectOptions extends CommonPluginOptions {
  readonly ingressConfig?: ReadonlyArray<{ readonly listenerPort: number; readonly interceptPort?: number }>;
  readonly egressConfig?: {
    readonly listenerPort: number;
    readonly redirectIP?: { readonly ipv4?: string; readonly ipv6?: string };
    readonly redirectMode?: "nat" | "tproxy";
    readonly vip?: { readonly ipv4Cidr?: string; readonly ipv6Cidr?: string };
  };
  readonly enableIPv4?: boolean;
  readonly enableIPv6?: boolean;
}

/** AWS's `ecs-serviceconnect` plugin: redirects task traffic through the Service Connect proxy. */
export function serviceConnectPlugin(options: ServiceConnectOptions): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("ecs-serviceconnect", fields, options);
}

/** Options of AWS's `aws-appmesh` plugin. */
export interface AppMeshOptions extends CommonPluginOptions {
  readonly ignoredUID?: string;
  readonly ignoredGID?: string;
  readonly proxyIngressPort: string;
  readonly proxyEgressPort: string;
  readonly appPorts: readonly string[];
  readonly egressIgnoredPorts?: readonly string[];
  readonly egressIgnoredIPs?: readonly string[];
}

/** AWS's `aws-appmesh` plugin: redirects task traffic through the Envoy proxy. */
export function appMeshPlugin(options: AppMeshOptions): PluginConfig {
  const { capabilities: _c, extra: _e, ...fields } = options;
  return plugin("aws-appmesh", fields, options);
}

/** A configuration list as an object, for {@link networkList}. */
export interface NetworkListInput {
  readonly name: string;
  readonly cniVersion: string;
  readonly cniVersions?: readonly string[];
  readonly disableCheck?: boolean;
  readonly disableGC?: boolean;
  readonly plugins: readonly PluginConfig[];
}

/**
 * Builds a {@link NetworkConfigList} from objects, validated exactly as a `.conflist` file is (its `bytes` are the
 * JSON written, which is also what the cache records).
 */
export function networkList(input: NetworkListInput): Result<NetworkConfigList, CniError> {
  return parseConfList(JSON.stringify(clean({ ...input })));
}
