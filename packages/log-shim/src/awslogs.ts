import { err, ok, type Result } from "neverthrow";
import {
  firstFailure,
  optionalBoolean,
  optionalHttpUrl,
  optionalOneOf,
  optionalString,
  requiredString,
} from "./checks.js";
import { LogShimError } from "./errors.js";
import {
  type EncodedFlag,
  type FlagSet,
  type Mutable,
  splitFlag,
  takeOptional,
  takeRequired,
  takeStringBool,
} from "./flags.js";

/** The flags of the awslogs driver (names without the leading `--`). */
export const AWSLOGS_FLAGS = [
  "awslogs-group",
  "awslogs-region",
  "awslogs-stream",
  "awslogs-credentials-endpoint",
  "awslogs-create-group",
  "awslogs-create-stream",
  "awslogs-multiline-pattern",
  "awslogs-datetime-format",
  "awslogs-endpoint",
  "awslogs-format",
] as const;

/** The values `--awslogs-format` accepts: only the embedded-metric-format header. */
export const AWSLOGS_FORMATS = ["json/emf"] as const;

/**
 * Options of the `awslogs` driver (Amazon CloudWatch Logs), as the logger's flags. Same semantics as Docker's
 * awslogs driver, which the logger wraps.
 */
export interface AwslogsDriverOptions {
  readonly name: "awslogs";
  /** `--awslogs-group` (required): the log group; 1-512 characters from `A-Za-z0-9 . _ - / #`. */
  readonly group: string;
  /** `--awslogs-region` (required): the region, e.g. `us-east-1`. */
  readonly region: string;
  /**
   * `--awslogs-stream` (required): the log stream; 1-512 characters, no `:` or `*`. ECS builds it as
   * `prefix/container-name/task-id` from `awslogs-stream-prefix`.
   */
  readonly stream: string;
  /**
   * `--awslogs-credentials-endpoint`: a path (starting with `/`) on the ECS credentials endpoint
   * `http://169.254.170.2`, e.g. `/v2/credentials/<id>`; without it the default AWS credential chain is used.
   */
  readonly credentialsEndpoint?: string;
  /**
   * `--awslogs-create-group`: create the log group if missing (needs `logs:CreateLogGroup`).
   * @defaultValue `false`
   */
  readonly createGroup?: boolean;
  /**
   * `--awslogs-create-stream`: create the log stream if missing; with `false` a missing stream makes logging fail
   * silently instead of failing the container.
   * @defaultValue `true`
   */
  readonly createStream?: boolean;
  /** `--awslogs-multiline-pattern`: a Go (RE2) regular expression that starts a new message. */
  readonly multilinePattern?: string;
  /** `--awslogs-datetime-format`: a strftime-style format (e.g. `%Y-%m-%d`) that starts a new message. */
  readonly datetimeFormat?: string;
  /** `--awslogs-endpoint`: an http(s) URL overriding the CloudWatch Logs endpoint. */
  readonly endpoint?: string;
  /** `--awslogs-format`: `json/emf` sends the `x-amzn-logs-format: json/emf` header (embedded metric format). */
  readonly format?: (typeof AWSLOGS_FORMATS)[number];
}

const GROUP = /^[A-Za-z0-9._\-/#]{1,512}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

/** Checks awslogs options against the logger's and CloudWatch's rules. */
export function validateAwslogs(o: AwslogsDriverOptions): LogShimError | undefined {
  return firstFailure(
    () => requiredString("awslogs-group", o.group, "name the CloudWatch log group"),
    () =>
      GROUP.test(o.group)
        ? undefined
        : new LogShimError(
            "InvalidOption",
            `--awslogs-group ${JSON.stringify(o.group)} is not a CloudWatch log group name: use 1-512 characters ` +
              `from A-Z a-z 0-9 . _ - / #`,
            { option: "awslogs-group" },
          ),
    () => requiredString("awslogs-region", o.region, "name the AWS region, e.g. us-east-1"),
    () =>
      REGION.test(o.region)
        ? undefined
        : new LogShimError(
            "InvalidOption",
            `--awslogs-region ${JSON.stringify(o.region)} is not an AWS region name such as us-east-1`,
            { option: "awslogs-region" },
          ),
    () => requiredString("awslogs-stream", o.stream, "name the CloudWatch log stream"),
    () =>
      o.stream.length <= 512 && !/[:*]/.test(o.stream)
        ? undefined
        : new LogShimError(
            "InvalidOption",
            `--awslogs-stream ${JSON.stringify(o.stream)} is not a CloudWatch log stream name: use at most 512 ` +
              `characters and no ':' or '*'`,
            { option: "awslogs-stream" },
          ),
    () => optionalString("awslogs-credentials-endpoint", o.credentialsEndpoint),
    () =>
      o.credentialsEndpoint === undefined || o.credentialsEndpoint.startsWith("/")
        ? undefined
        : new LogShimError(
            "InvalidOption",
            `--awslogs-credentials-endpoint ${JSON.stringify(o.credentialsEndpoint)} must be a path such as ` +
              `/v2/credentials/<id>: the logger appends it to http://169.254.170.2`,
            { option: "awslogs-credentials-endpoint" },
          ),
    () => optionalBoolean("awslogs-create-group", o.createGroup),
    () => optionalBoolean("awslogs-create-stream", o.createStream),
    () => optionalString("awslogs-multiline-pattern", o.multilinePattern),
    () => optionalString("awslogs-datetime-format", o.datetimeFormat),
    () =>
      o.multilinePattern !== undefined && o.datetimeFormat !== undefined
        ? new LogShimError(
            "ConflictingOptions",
            "--awslogs-multiline-pattern and --awslogs-datetime-format are exclusive (both set where a message " +
              "starts); keep one of them",
            { option: "awslogs-datetime-format" },
          )
        : undefined,
    () => optionalHttpUrl("awslogs-endpoint", o.endpoint),
    () => optionalOneOf("awslogs-format", o.format, AWSLOGS_FORMATS),
    () =>
      o.format !== undefined && (o.multilinePattern !== undefined || o.datetimeFormat !== undefined)
        ? new LogShimError(
            "ConflictingOptions",
            "--awslogs-format=json/emf cannot be combined with --awslogs-multiline-pattern or " +
              "--awslogs-datetime-format (each EMF line is one JSON document); drop one of them",
            { option: "awslogs-format" },
          )
        : undefined,
  );
}

/** The flags for validated awslogs options. */
export function encodeAwslogs(o: AwslogsDriverOptions): EncodedFlag[] {
  const flags = [
    splitFlag("awslogs-group", o.group),
    splitFlag("awslogs-region", o.region),
    splitFlag("awslogs-stream", o.stream),
  ];
  const optional: ReadonlyArray<readonly [string, string | undefined]> = [
    ["awslogs-credentials-endpoint", o.credentialsEndpoint],
    ["awslogs-create-group", o.createGroup === undefined ? undefined : String(o.createGroup)],
    ["awslogs-create-stream", o.createStream === undefined ? undefined : String(o.createStream)],
    ["awslogs-multiline-pattern", o.multilinePattern],
    ["awslogs-datetime-format", o.datetimeFormat],
    ["awslogs-endpoint", o.endpoint],
    ["awslogs-format", o.format],
  ];
  for (const [name, value] of optional) if (value !== undefined) flags.push(splitFlag(name, value));
  return flags;
}

/** Reads the awslogs flags from a parsed URI (empty optional values read as absent, as the logger reads them). */
export function decodeAwslogs(flags: FlagSet): Result<AwslogsDriverOptions, LogShimError> {
  const group = takeRequired(flags, "awslogs-group", "name the CloudWatch log group");
  if (group.isErr()) return err(group.error);
  const region = takeRequired(flags, "awslogs-region", "name the AWS region, e.g. us-east-1");
  if (region.isErr()) return err(region.error);
  const stream = takeRequired(flags, "awslogs-stream", "name the CloudWatch log stream");
  if (stream.isErr()) return err(stream.error);
  const o: Mutable<AwslogsDriverOptions> = {
    name: "awslogs",
    group: group.value,
    region: region.value,
    stream: stream.value,
  };
  const createGroup = takeStringBool(flags, "awslogs-create-group");
  if (createGroup.isErr()) return err(createGroup.error);
  if (createGroup.value !== undefined) o.createGroup = createGroup.value;
  const createStream = takeStringBool(flags, "awslogs-create-stream");
  if (createStream.isErr()) return err(createStream.error);
  if (createStream.value !== undefined) o.createStream = createStream.value;
  const credentialsEndpoint = takeOptional(flags, "awslogs-credentials-endpoint");
  if (credentialsEndpoint !== undefined) o.credentialsEndpoint = credentialsEndpoint;
  const multilinePattern = takeOptional(flags, "awslogs-multiline-pattern");
  if (multilinePattern !== undefined) o.multilinePattern = multilinePattern;
  const datetimeFormat = takeOptional(flags, "awslogs-datetime-format");
  if (datetimeFormat !== undefined) o.datetimeFormat = datetimeFormat;
  const endpoint = takeOptional(flags, "awslogs-endpoint");
  if (endpoint !== undefined) o.endpoint = endpoint;
  const format = takeOptional(flags, "awslogs-format");
  if (format !== undefined) o.format = format as (typeof AWSLOGS_FORMATS)[number]; // checked by validateAwslogs
  return ok(o);
}
