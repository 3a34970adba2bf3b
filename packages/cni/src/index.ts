/**
 * A CNI (Container Network Interface) invoker at libcni level for Node.js host agents: load and validate network
 * configurations (`.conflist`, `.conf`, configuration directories) with libcni's rules or build them with typed
 * plugin builders, negotiate the spec version, and run ADD / CHECK / DEL / GC / STATUS / VERSION on real plugins
 * exactly as libcni does (environment, stdin, libcni's result cache, result version conversion), with rollback of
 * a failed ADD. Every failure is a tagged {@link CniError} inside a neverthrow `Result`.
 *
 * Debug output: `DEBUG=berth:cni*` (`berth:cni` for configuration loading, probes and operations,
 * `berth:cni:exec` for each plugin run with its command, duration and exit status, `berth:cni:cache` for cache
 * files written, removed and skipped).
 *
 * @packageDocumentation
 */
export {
  type CachedAttachment,
  type CachedAttachmentInput,
  CNI_CACHE_KIND,
  cacheFilePath,
  DEFAULT_CACHE_DIR,
  deleteCachedAttachment,
  type ListCachedOptions,
  listCachedAttachments,
  readCachedAttachment,
  writeCachedAttachment,
} from "./cache.js";
export {
  type AddOptions,
  type CachedState,
  type Cni,
  type CniOptions,
  createCni,
  type GcAttachment,
  type OperationOptions,
} from "./cni.js";
export {
  confListFromConf,
  type NetworkConfig,
  type NetworkConfigList,
  type ParseOptions,
  type PluginConfig,
  parseConf,
  parseConfList,
  parsePluginConf,
} from "./config.js";
export { DEFAULT_CONF_DIR, type LoadConfDirOptions, loadConf, loadConfDir, loadConfList } from "./config-dir.js";
export {
  CniError,
  type CniErrorCode,
  type CniErrorOptions,
  cniErrorFromPlugin,
  codeOfCniCode,
  type PluginErrorContext,
} from "./errors.js";
export {
  type CniPath,
  type ExecOptions,
  execPlugin,
  findPlugin,
  MAX_EXEC_ATTEMPTS,
  type PluginExecRequest,
  type PluginExecResult,
  splitCniPath,
} from "./exec.js";
export {
  type Attachment,
  buildPluginStdin,
  type CniCommand,
  type PluginEnvInput,
  type PluginStdinInput,
  pluginEnv,
  runtimeConfigFor,
  validateAttachment,
} from "./invoke.js";
export {
  type AppMeshOptions,
  appMeshPlugin,
  type BandwidthOptions,
  type BridgeOptions,
  bandwidthPlugin,
  bridgePlugin,
  type CommonPluginOptions,
  type FirewallOptions,
  firewallPlugin,
  type HostLocalIpam,
  type HostLocalRange,
  hostLocalIpam,
  type IpamConfig,
  type IpamRoute,
  type IpvlanOptions,
  ipvlanPlugin,
  loopbackPlugin,
  type MacvlanOptions,
  macvlanPlugin,
  type NetworkListInput,
  networkList,
  type PortMapping,
  type PortmapOptions,
  type PtpOptions,
  portmapPlugin,
  ptpPlugin,
  type ServiceConnectOptions,
  type StaticIpam,
  serviceConnectPlugin,
  staticIpam,
  type TuningOptions,
  tuningPlugin,
  type VpcBranchEniOptions,
  type VpcEniOptions,
  vpcBranchEniPlugin,
  vpcEniPlugin,
} from "./plugins.js";
export { type PluginVersionInfo, type ProbeVersionOptions, probeVersion } from "./probe-version.js";
export {
  type CniDns,
  type CniInterface,
  type CniIpConfig,
  type CniResult,
  type CniRoute,
  convertResult,
  parseResult,
  RESULT_VERSIONS,
  resultToJson,
} from "./result.js";
export {
  CNI_SPEC_VERSION,
  compareSpecVersions,
  compareVersions,
  KNOWN_SPEC_VERSIONS,
  negotiateVersion,
  parseVersion,
  type SpecVersion,
  type VersionedConfig,
} from "./version.js";
