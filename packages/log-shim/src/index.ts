/**
 * Typed containerd logger URIs: format and parse `binary://` / `binary-v2://` / `file://` log URIs exactly as
 * containerd reads them, and build, validate and parse the URIs of AWS's shim-loggers-for-containerd (awslogs,
 * fluentd, splunk, json-file) with the binary's own flag names and rules, including the mapping from an ECS
 * task definition's `logConfiguration`. Every failure is a tagged {@link LogShimError} inside a neverthrow
 * `Result`.
 *
 * Debug output: `DEBUG=berth:log-shim*` (`berth:log-shim` for URIs, `berth:log-shim:ecs` for ECS mapping).
 *
 * @packageDocumentation
 */
export { AWSLOGS_FLAGS, AWSLOGS_FORMATS, type AwslogsDriverOptions } from "./awslogs.js";
export {
  COMMON_FLAGS,
  MAX_CLEANUP_TIME_NS,
  MAX_SHIM_LOGGER_ID,
  SHIM_LOGGER_MODES,
  type ShimLoggerCommonOptions,
  type ShimLoggerMode,
} from "./common.js";
export {
  ECS_DEFAULT_DATA_DIR,
  ECS_DEFAULT_MAX_BUFFER_SIZE,
  ECS_LOG_DRIVERS,
  ECS_OPTION_NAMES,
  type EcsLogConfiguration,
  type EcsLogContext,
  type EcsLogDriver,
  type EcsShimLoggerConfig,
  FIRELENS_BUFFER_LIMIT_OPTION,
  shimLoggerOptionsFromEcs,
} from "./ecs.js";
export { LogShimError, type LogShimErrorCode, type LogShimErrorOptions } from "./errors.js";
export {
  DEFAULT_FLUENTD_ADDRESS,
  FLUENTD_FLAGS,
  type FluentdAddress,
  type FluentdDriverOptions,
  parseFluentdAddress,
} from "./fluentd.js";
export {
  type ByteSize,
  GO_BOOL_SPELLINGS,
  type GoDuration,
  parseByteSize,
  parseGoDuration,
  type SizeUnits,
} from "./go-syntax.js";
export { JSON_FILE_FLAGS, type JsonFileDriverOptions, MAX_JSON_FILE_COUNT } from "./json-file.js";
export {
  buildShimLoggerUri,
  type ParsedShimLoggerUri,
  parseShimLoggerUri,
  SHIM_LOGGER_DRIVERS,
  SHIM_LOGGER_FLAGS,
  type ShimLoggerDriver,
  type ShimLoggerDriverOptions,
  type ShimLoggerOptions,
  shimLoggerArgs,
  validateShimLoggerOptions,
} from "./shim-loggers.js";
export { SPLUNK_FLAGS, SPLUNK_FORMATS, type SplunkDriverOptions } from "./splunk.js";
export {
  type BinaryLogUri,
  type FileLogUri,
  formatLogUri,
  LOG_URI_SCHEMES,
  type LogUri,
  type LogUriArg,
  type LogUriScheme,
  parseLogUri,
} from "./uri.js";
