/**
 * Typed containerd logger URIs: format and parse `binary://` / `binary-v2://` / `file://` log URIs exactly as
 * containerd reads them, and build, validate and parse the URIs of AWS's shim-loggers-for-containerd (awslogs,
 * fluentd, splunk, json-file) with the binary's own flag names and rules, including the mapping from an ECS
 * task definition's `logConfiguration`. Also berth's own containerd logger, `berth-logger` (the package's bin):
 * json-file and fluentd drivers, blocking and non-blocking modes; {@link buildBerthLoggerUri} builds its URI and
 * {@link runBerthLogger} is its runtime. Every failure is a tagged {@link LogShimError} inside a neverthrow
 * `Result`.
 *
 * Debug output: `DEBUG=berth:log-shim*` (`berth:log-shim` for URIs, `berth:log-shim:ecs` for ECS mapping,
 * `berth:log-shim:logger` and `berth:log-shim:fluentd` inside berth-logger, sent to its `--debug-file`;
 * `berth:log-shim:server` in a resident logger, {@link startBerthLoggerServer}).
 *
 * @packageDocumentation
 */

export { AWSLOGS_FLAGS, AWSLOGS_FORMATS, type AwslogsDriverOptions } from "./awslogs.js";
export {
  BERTH_LOGGER_DEFAULT_BUFFER,
  BERTH_LOGGER_DEFAULT_CLEANUP,
  BERTH_LOGGER_DEFAULT_WRITE_TIMEOUT,
  BERTH_LOGGER_DRIVERS,
  BERTH_LOGGER_FLAGS,
  type BerthFluentdDriverOptions,
  type BerthJsonFileDriverOptions,
  type BerthLoggerDriver,
  type BerthLoggerDriverOptions,
  type BerthLoggerOptions,
  berthLoggerArgs,
  buildBerthLoggerUri,
  type ParsedBerthLoggerUri,
  parseBerthLoggerArgv,
  parseBerthLoggerUri,
  type ResolvedBerthLoggerLimits,
  resolveBerthLoggerLimits,
  validateBerthLoggerOptions,
} from "./berth-logger-options.js";
export { BERTH_LOGGER_PREAMBLE } from "./bin/preamble.js";
export {
  COMMON_FLAGS,
  MAX_CLEANUP_TIME_NS,
  MAX_SHIM_LOGGER_ID,
  SHIM_LOGGER_MODES,
  type ShimLoggerCommonOptions,
  type ShimLoggerMode,
} from "./common.js";
export { DOCKER_JSON_MAX_EXPANSION, dockerJsonString, escapeDockerJson } from "./docker-json.js";
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
  encodeForward,
  eventTime,
  FluentdForwarder,
  type FluentdForwarderOptions,
  type FluentdRecord,
} from "./fluentd-forwarder.js";
export {
  type ByteSize,
  GO_BOOL_SPELLINGS,
  type GoDuration,
  parseByteSize,
  parseGoDuration,
  type SizeUnits,
} from "./go-syntax.js";
export { JSON_FILE_FLAGS, type JsonFileDriverOptions, MAX_JSON_FILE_COUNT } from "./json-file.js";
export { JsonFileArena, type JsonFileChunk, JsonFileEncoder } from "./json-file-encoder.js";
export { type JsonFileRotation, JsonFileWriter, jsonFileLine } from "./json-file-writer.js";
export {
  endsLine,
  LineSplitter,
  type LogBatch,
  type LogLine,
  type LogStream,
  lineLength,
  lineText,
  PARTIAL_LINE_BYTES,
  type PartialLineMeta,
} from "./line-splitter.js";
export {
  BERTH_LOGGER_HANDED_BACK,
  BERTH_LOGGER_USAGE,
  type BerthLoggerProcess,
  type BerthLoggerStats,
  CONTAINERD_LOGGER_FDS,
  runBerthLogger,
} from "./logger-runtime.js";
export {
  BERTH_LOGGER_PROTOCOL,
  type BerthLoggerServer,
  type BerthLoggerServerOptions,
  startBerthLoggerServer,
} from "./logger-server.js";
export { formatRfc3339Nano, wallClockNs } from "./rfc3339.js";
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
