import { posix } from "node:path";
import createDebug from "debug";
import { err, ok, type Result } from "neverthrow";
import type { AwslogsDriverOptions } from "./awslogs.js";
import type { ShimLoggerMode } from "./common.js";
import { LogShimError } from "./errors.js";
import type { Mutable } from "./flags.js";
import type { FluentdDriverOptions } from "./fluentd.js";
import { GO_BOOL_SPELLINGS, goBool, parseByteSize } from "./go-syntax.js";
import type { JsonFileDriverOptions } from "./json-file.js";
import { type ShimLoggerDriverOptions, type ShimLoggerOptions, validateShimLoggerOptions } from "./shim-loggers.js";
import type { SplunkDriverOptions } from "./splunk.js";

const debug = createDebug("berth:log-shim:ecs");

/** The `logDriver` values of an ECS container definition this package maps onto shim-loggers-for-containerd. */
export const ECS_LOG_DRIVERS = ["awslogs", "fluentd", "splunk", "awsfirelens", "json-file"] as const;

/** One of {@link ECS_LOG_DRIVERS}. */
export type EcsLogDriver = (typeof ECS_LOG_DRIVERS)[number];

/** An ECS container definition's `logConfiguration` (secrets in `secretOptions` already resolved into `options`). */
export interface EcsLogConfiguration {
  /** The log driver named in the task definition. */
  readonly logDriver: string;
  /** The driver's options, with Docker/ECS names (`awslogs-group`, `tag`, `mode`, ...). */
  readonly options?: Readonly<Record<string, string>>;
}

/** What the mapping needs to know about the container and the host, beyond the task definition. */
export interface EcsLogContext {
  /** The containerd container ID (`--container-id`; also the awslogs stream when no prefix or stream is given). */
  readonly containerId: string;
  /** The container's name in the task definition (`--container-name`). */
  readonly containerName: string;
  /** The task ARN; the task ID is its last `/`-separated part, as the ECS agent takes it. */
  readonly taskArn: string;
  /** The region to use when the options have no `awslogs-region` (the ECS agent's own region). */
  readonly region?: string;
  /**
   * The task execution role's credentials path (e.g. `/v2/credentials/<id>`): the ECS agent sets it as
   * `awslogs-credentials-endpoint`, overriding any value in the options.
   */
  readonly executionRoleCredentialsEndpoint?: string;
  /**
   * The directory holding FireLens' per-task directories: the socket is
   * `unix://<dataDir>/firelens/<taskID>/socket/fluent.sock`. The ECS agent's is `<ECS_HOST_DATA_DIR>/data`.
   * @defaultValue `"/var/lib/ecs/data"`
   */
  readonly dataDir?: string;
  /**
   * FireLens: whether the fluentd client connects asynchronously (the ECS agent's `ECS_ENABLE_FIRELENS_ASYNC`).
   * @defaultValue `true`
   */
  readonly firelensAsync?: boolean;
  /** json-file: the log file's absolute path (Docker picks `/var/lib/docker/containers/<id>/<id>-json.log`). */
  readonly jsonFileLogPath?: string;
}

/** The result of mapping an ECS `logConfiguration`. */
export interface EcsShimLoggerConfig {
  /** Options for {@link buildShimLoggerUri}; already validated. */
  readonly options: ShimLoggerOptions;
  /**
   * For `awsfirelens` only: the options meant for the FireLens router's output section (every option except
   * `log-driver-buffer-limit`), e.g. `{ Name: "firehose", region: "us-west-2", delivery_stream: "my-stream" }`.
   */
  readonly firelensRouterOptions?: Readonly<Record<string, string>>;
}

/** The buffer size the ECS agent gives a non-blocking logger when the task does not set `max-buffer-size`. */
export const ECS_DEFAULT_MAX_BUFFER_SIZE = "10m";

/** The ECS agent's default data directory for FireLens sockets (`/var/lib/ecs` + `/data`). */
export const ECS_DEFAULT_DATA_DIR = "/var/lib/ecs/data";

/** Options that are the logger's own, whatever the driver (Docker's generic log options). */
const GENERIC_KEYS = ["mode", "max-buffer-size"] as const;

/** The ECS/Docker option names accepted per driver (awsfirelens takes any name: they go to the router). */
export const ECS_OPTION_NAMES: Readonly<Record<Exclude<EcsLogDriver, "awsfirelens">, readonly string[]>> = {
  awslogs: [
    ...GENERIC_KEYS,
    "awslogs-group",
    "awslogs-region",
    "awslogs-stream-prefix",
    "awslogs-stream",
    "awslogs-create-group",
    "awslogs-create-stream",
    "awslogs-datetime-format",
    "awslogs-multiline-pattern",
    "awslogs-endpoint",
    "awslogs-credentials-endpoint",
    "awslogs-format",
  ],
  fluentd: [
    ...GENERIC_KEYS,
    "fluentd-address",
    "fluentd-async",
    "fluentd-async-connect",
    "fluentd-sub-second-precision",
    "fluentd-buffer-limit",
    "fluentd-write-timeout",
    "tag",
  ],
  splunk: [
    ...GENERIC_KEYS,
    "splunk-url",
    "splunk-token",
    "splunk-token-endpoint",
    "splunk-source",
    "splunk-sourcetype",
    "splunk-index",
    "splunk-capath",
    "splunk-caname",
    "splunk-insecureskipverify",
    "splunk-format",
    "splunk-verify-connection",
    "splunk-gzip",
    "splunk-gzip-level",
    "tag",
    "labels",
    "env",
    "env-regex",
  ],
  "json-file": [
    ...GENERIC_KEYS,
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
  ],
};

/** The option FireLens keeps for the logger itself (the fluentd buffer limit); everything else goes to the router. */
export const FIRELENS_BUFFER_LIMIT_OPTION = "log-driver-buffer-limit";

type Options = Readonly<Record<string, string>>;

function bool(options: Options, key: string): Result<boolean | undefined, LogShimError> {
  const value = options[key];
  if (value === undefined) return ok(undefined);
  const b = goBool(value);
  if (b === undefined) {
    return err(
      new LogShimError(
        "InvalidOption",
        `ECS option ${key} ${JSON.stringify(value)} is not a boolean; use "true" or "false"`,
        {
          option: key,
          allowed: GO_BOOL_SPELLINGS,
        },
      ),
    );
  }
  return ok(b);
}

function integer(options: Options, key: string): Result<number | undefined, LogShimError> {
  const value = options[key];
  if (value === undefined) return ok(undefined);
  if (!/^[+-]?\d{1,15}$/.test(value)) {
    return err(
      new LogShimError("InvalidOption", `ECS option ${key} ${JSON.stringify(value)} must be an integer`, {
        option: key,
      }),
    );
  }
  return ok(Number(value));
}

/** Docker reads fluentd buffer limits with go-units' RAMInBytes ("1m" = 1048576); the logger takes an integer. */
function bufferLimit(options: Options, key: string): Result<number | undefined, LogShimError> {
  const value = options[key];
  if (value === undefined) return ok(undefined);
  return parseByteSize(value, "binary", key);
}

function list(options: Options, key: string): readonly string[] | undefined {
  const value = options[key];
  return value === undefined ? undefined : value.split(",");
}

function unknownKeys(options: Options, allowed: readonly string[], driver: string): LogShimError | undefined {
  const unknown = Object.keys(options).find((key) => !allowed.includes(key));
  if (unknown === undefined) return undefined;
  return new LogShimError(
    "InvalidOption",
    `ECS option ${JSON.stringify(unknown)} is not supported for the ${driver} driver by shim-loggers-for-containerd; ` +
      `remove it (supported: ${allowed.join(", ")})`,
    { option: unknown, allowed },
  );
}

function set<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function mapAwslogs(o: Options, ctx: EcsLogContext, taskId: string): Result<AwslogsDriverOptions, LogShimError> {
  const prefix = o["awslogs-stream-prefix"];
  const explicitStream = o["awslogs-stream"];
  if (prefix !== undefined && explicitStream !== undefined) {
    return err(
      new LogShimError(
        "ConflictingOptions",
        "ECS options awslogs-stream-prefix and awslogs-stream are exclusive; keep awslogs-stream-prefix " +
          "(the stream becomes prefix/container-name/task-id)",
        { option: "awslogs-stream" },
      ),
    );
  }
  const region = o["awslogs-region"] ?? ctx.region;
  if (region === undefined) {
    return err(
      new LogShimError("MissingOption", "ECS option awslogs-region is required (or pass region in the context)", {
        option: "awslogs-region",
      }),
    );
  }
  const group = o["awslogs-group"];
  if (group === undefined) {
    return err(new LogShimError("MissingOption", "ECS option awslogs-group is required", { option: "awslogs-group" }));
  }
  const d: Mutable<AwslogsDriverOptions> = {
    name: "awslogs",
    group,
    region,
    // Docker's default stream is the container ID; ECS uses prefix/container-name/task-id when a prefix is set.
    stream: prefix !== undefined ? `${prefix}/${ctx.containerName}/${taskId}` : (explicitStream ?? ctx.containerId),
  };
  const createGroup = bool(o, "awslogs-create-group");
  if (createGroup.isErr()) return err(createGroup.error);
  set(d, "createGroup", createGroup.value);
  const createStream = bool(o, "awslogs-create-stream");
  if (createStream.isErr()) return err(createStream.error);
  set(d, "createStream", createStream.value);
  set(d, "datetimeFormat", o["awslogs-datetime-format"]);
  set(d, "multilinePattern", o["awslogs-multiline-pattern"]);
  set(d, "endpoint", o["awslogs-endpoint"]);
  set(d, "credentialsEndpoint", ctx.executionRoleCredentialsEndpoint ?? o["awslogs-credentials-endpoint"]);
  set(d, "format", o["awslogs-format"] as AwslogsDriverOptions["format"]);
  return ok(d);
}

function mapFluentd(o: Options): Result<FluentdDriverOptions, LogShimError> {
  if (o["fluentd-async"] !== undefined && o["fluentd-async-connect"] !== undefined) {
    return err(
      new LogShimError(
        "ConflictingOptions",
        "ECS options fluentd-async and fluentd-async-connect (its deprecated name) are exclusive; keep fluentd-async",
        { option: "fluentd-async-connect" },
      ),
    );
  }
  const d: Mutable<FluentdDriverOptions> = { name: "fluentd" };
  set(d, "address", o["fluentd-address"]);
  const async = bool(o, o["fluentd-async"] !== undefined ? "fluentd-async" : "fluentd-async-connect");
  if (async.isErr()) return err(async.error);
  set(d, "async", async.value);
  const precision = bool(o, "fluentd-sub-second-precision");
  if (precision.isErr()) return err(precision.error);
  set(d, "subSecondPrecision", precision.value);
  const limit = bufferLimit(o, "fluentd-buffer-limit");
  if (limit.isErr()) return err(limit.error);
  set(d, "bufferLimit", limit.value);
  set(d, "writeTimeout", o["fluentd-write-timeout"]);
  set(d, "tag", o.tag);
  return ok(d);
}

function mapSplunk(o: Options): Result<SplunkDriverOptions, LogShimError> {
  const url = o["splunk-url"];
  if (url === undefined) {
    return err(new LogShimError("MissingOption", "ECS option splunk-url is required", { option: "splunk-url" }));
  }
  const d: Mutable<SplunkDriverOptions> = { name: "splunk", url };
  set(d, "token", o["splunk-token"]);
  set(d, "tokenEndpoint", o["splunk-token-endpoint"]);
  set(d, "source", o["splunk-source"]);
  set(d, "sourcetype", o["splunk-sourcetype"]);
  set(d, "index", o["splunk-index"]);
  set(d, "capath", o["splunk-capath"]);
  set(d, "caname", o["splunk-caname"]);
  for (const [key, field] of [
    ["splunk-insecureskipverify", "insecureSkipVerify"],
    ["splunk-verify-connection", "verifyConnection"],
    ["splunk-gzip", "gzip"],
  ] as const) {
    const b = bool(o, key);
    if (b.isErr()) return err(b.error);
    set(d, field, b.value);
  }
  set(d, "format", o["splunk-format"] as SplunkDriverOptions["format"]);
  const level = integer(o, "splunk-gzip-level");
  if (level.isErr()) return err(level.error);
  set(d, "gzipLevel", level.value);
  set(d, "tag", o.tag);
  set(d, "labels", list(o, "labels"));
  set(d, "env", list(o, "env"));
  set(d, "envRegex", o["env-regex"]);
  return ok(d);
}

function mapJsonFile(o: Options, ctx: EcsLogContext): Result<JsonFileDriverOptions, LogShimError> {
  if (ctx.jsonFileLogPath === undefined) {
    return err(
      new LogShimError(
        "MissingOption",
        "the json-file driver needs the log file's path: pass jsonFileLogPath in the context",
        { option: "log-path" },
      ),
    );
  }
  const d: Mutable<JsonFileDriverOptions> = { name: "json-file", logPath: ctx.jsonFileLogPath };
  set(d, "maxSize", o["max-size"]);
  const maxFile = integer(o, "max-file");
  if (maxFile.isErr()) return err(maxFile.error);
  set(d, "maxFile", maxFile.value);
  const compress = bool(o, "compress");
  if (compress.isErr()) return err(compress.error);
  set(d, "compress", compress.value);
  set(d, "labels", list(o, "labels"));
  set(d, "labelsRegex", o["labels-regex"]);
  set(d, "env", list(o, "env"));
  set(d, "envRegex", o["env-regex"]);
  set(d, "tag", o.tag);
  return ok(d);
}

function mapFirelens(o: Options, ctx: EcsLogContext, taskId: string): Result<EcsShimLoggerConfig, LogShimError> {
  const dataDir = ctx.dataDir ?? ECS_DEFAULT_DATA_DIR;
  if (!dataDir.startsWith("/")) {
    return err(
      new LogShimError("NotAbsolutePath", `dataDir ${JSON.stringify(dataDir)} must be an absolute path`, {
        option: "dataDir",
      }),
    );
  }
  const limit = bufferLimit(o, FIRELENS_BUFFER_LIMIT_OPTION);
  if (limit.isErr()) return err(limit.error);
  const driver: Mutable<FluentdDriverOptions> = {
    name: "fluentd",
    address: `unix://${posix.join(dataDir, "firelens", taskId, "socket", "fluent.sock")}`,
    tag: `${ctx.containerName}-firelens-${taskId}`,
    subSecondPrecision: true,
    async: ctx.firelensAsync ?? true,
  };
  set(driver, "bufferLimit", limit.value);
  const routerOptions: Record<string, string> = {};
  for (const [key, value] of Object.entries(o)) if (key !== FIRELENS_BUFFER_LIMIT_OPTION) routerOptions[key] = value;
  // Like the ECS agent, the FireLens logger gets none of the task's other options (not even mode).
  return validateShimLoggerOptions({ containerId: ctx.containerId, containerName: ctx.containerName, driver }).map(
    (options) => ({ options, firelensRouterOptions: routerOptions }),
  );
}

function taskIdOf(taskArn: string): Result<string, LogShimError> {
  const id = taskArn.split("/").pop() ?? "";
  if (id === "" || !/^[A-Za-z0-9._-]+$/.test(id)) {
    return err(
      new LogShimError(
        "InvalidOption",
        `taskArn ${JSON.stringify(taskArn)} does not end in a task ID ` +
          `(expected arn:aws:ecs:<region>:<account>:task/<cluster>/<task-id>)`,
        { option: "taskArn" },
      ),
    );
  }
  return ok(id);
}

/**
 * Maps an ECS container definition's `logConfiguration` to shim-loggers-for-containerd options the way the ECS
 * agent configures the equivalent Docker log driver:
 *
 * - `awslogs`: `awslogs-stream-prefix` makes the stream `prefix/container-name/task-id` (without a prefix or an
 *   `awslogs-stream`, the stream is the container ID, as in Docker); a missing `awslogs-region` falls back to
 *   `context.region`; `context.executionRoleCredentialsEndpoint` becomes `awslogs-credentials-endpoint`.
 * - `fluentd`, `splunk`, `json-file`: Docker option names map onto the logger's flags (`tag` becomes
 *   `--fluentd-tag`, `--splunk-tag` or `--json-file-tag`; `labels`/`env` of json-file become `--json-file-labels` /
 *   `--json-file-env`; `fluentd-async-connect` is read as `fluentd-async`; `fluentd-buffer-limit` accepts Docker's
 *   sizes such as `"1m"` and is passed as bytes).
 * - `mode` and `max-buffer-size` apply to every driver but `awsfirelens`; `mode: "non-blocking"` without
 *   `max-buffer-size` gets `"10m"`, as the ECS agent does.
 * - `awsfirelens` becomes `fluentd` with tag `<container>-firelens-<taskID>`, address
 *   `unix://<dataDir>/firelens/<taskID>/socket/fluent.sock`, sub-second precision on, async per
 *   `context.firelensAsync`, and `log-driver-buffer-limit` as the buffer limit; every other option is returned in
 *   `firelensRouterOptions` for the router's configuration.
 *
 * Options the logger has no flag for (e.g. awslogs `tag`, `awslogs-max-buffered-events`) are refused with
 * `InvalidOption` rather than silently dropped. The result is validated like {@link buildShimLoggerUri}'s input;
 * add common options such as `uid` or `cleanupTime` by spreading it.
 */
export function shimLoggerOptionsFromEcs(
  config: EcsLogConfiguration,
  context: EcsLogContext,
): Result<EcsShimLoggerConfig, LogShimError> {
  const result = mapEcs(config, context);
  if (result.isOk()) {
    debug(
      "mapped ECS %s config of container %s to the %s driver",
      config.logDriver,
      context.containerName,
      result.value.options.driver.name,
    );
  } else {
    debug("refused ECS %s config of container %s: %s", config.logDriver, context.containerName, result.error.message);
  }
  return result;
}

function mapEcs(config: EcsLogConfiguration, context: EcsLogContext): Result<EcsShimLoggerConfig, LogShimError> {
  const driver = config.logDriver;
  if (!(ECS_LOG_DRIVERS as readonly string[]).includes(driver)) {
    return err(
      new LogShimError(
        "UnknownDriver",
        `ECS log driver ${JSON.stringify(driver)} has no shim-loggers-for-containerd equivalent; ` +
          `use awslogs, fluentd, splunk, awsfirelens or json-file`,
        { option: "logDriver", allowed: ECS_LOG_DRIVERS },
      ),
    );
  }
  const taskId = taskIdOf(context.taskArn);
  if (taskId.isErr()) return err(taskId.error);
  const options = config.options ?? {};
  if (driver === "awsfirelens") return mapFirelens(options, context, taskId.value);

  const name = driver as Exclude<EcsLogDriver, "awsfirelens">;
  const unknown = unknownKeys(options, ECS_OPTION_NAMES[name], name);
  if (unknown) return err(unknown);
  let mapped: Result<ShimLoggerDriverOptions, LogShimError>;
  if (name === "awslogs") mapped = mapAwslogs(options, context, taskId.value);
  else if (name === "fluentd") mapped = mapFluentd(options);
  else if (name === "splunk") mapped = mapSplunk(options);
  else mapped = mapJsonFile(options, context);
  if (mapped.isErr()) return err(mapped.error);

  const shim: Mutable<ShimLoggerOptions> = {
    containerId: context.containerId,
    containerName: context.containerName,
    driver: mapped.value,
  };
  set(shim, "mode", options.mode as ShimLoggerMode | undefined);
  const maxBufferSize =
    options["max-buffer-size"] ?? (options.mode === "non-blocking" ? ECS_DEFAULT_MAX_BUFFER_SIZE : undefined);
  set(shim, "maxBufferSize", maxBufferSize);
  return validateShimLoggerOptions(shim).map((o) => ({ options: o }));
}
