/**
 * A CNI (Container Network Interface) invoker at libcni level for Node.js host agents: load and validate network
 * configurations (`.conflist`, `.conf`, configuration directories) with libcni's rules, negotiate the spec
 * version, find and run plugin binaries, and ask them which versions they support. Every failure is a tagged
 * {@link CniError} inside a neverthrow `Result`.
 *
 * Debug output: `DEBUG=berth:cni*` (`berth:cni` for configuration loading and probes, `berth:cni:exec` for each
 * plugin run with its command, duration and exit status).
 *
 * @packageDocumentation
 */
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
export { type PluginVersionInfo, type ProbeVersionOptions, probeVersion } from "./probe-version.js";
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
