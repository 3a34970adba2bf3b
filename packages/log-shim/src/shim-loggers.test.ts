import { describe, expect, it } from "vitest";
import type { AwslogsDriverOptions } from "./awslogs.js";
import type { ShimLoggerCommonOptions } from "./common.js";
import type { Mutable } from "./flags.js";
import type { FluentdDriverOptions } from "./fluentd.js";
import type { JsonFileDriverOptions } from "./json-file.js";
import {
  buildShimLoggerUri,
  parseShimLoggerUri,
  SHIM_LOGGER_FLAGS,
  type ShimLoggerDriverOptions,
  type ShimLoggerOptions,
  shimLoggerArgs,
  validateShimLoggerOptions,
} from "./shim-loggers.js";
import type { SplunkDriverOptions } from "./splunk.js";
import { type LogUriArg, parseLogUri } from "./uri.js";

const BIN = "/usr/local/bin/shim-loggers-for-containerd";
const AWS: ShimLoggerOptions = {
  containerId: "c1",
  containerName: "web",
  driver: { name: "awslogs", group: "g", region: "us-east-1", stream: "s" },
};

describe("buildShimLoggerUri", () => {
  it("refuses a relative binary path", () => {
    const e = buildShimLoggerUri("shim-loggers-for-containerd", AWS)._unsafeUnwrapErr();
    expect(e.code).toBe("NotAbsolutePath");
  });

  it.each([["gelf"], [""], [undefined]])("refuses the driver %j with the list of drivers", (name) => {
    const options = { ...AWS, driver: { name } } as unknown as ShimLoggerOptions;
    const e = buildShimLoggerUri(BIN, options)._unsafeUnwrapErr();
    expect(e.code).toBe("UnknownDriver");
    expect(e.option).toBe("log-driver");
    expect(e.allowed).toEqual(["awslogs", "fluentd", "splunk", "json-file"]);
  });

  it("refuses options without a driver", () => {
    const e = buildShimLoggerUri(BIN, { containerId: "c", containerName: "n" } as ShimLoggerOptions);
    expect(e._unsafeUnwrapErr().code).toBe("UnknownDriver");
  });

  it("checks common options before driver options", () => {
    const options: ShimLoggerOptions = { ...AWS, uid: 0, driver: { ...AWS.driver, group: "" } as AwslogsDriverOptions };
    expect(buildShimLoggerUri(BIN, options)._unsafeUnwrapErr().option).toBe("uid");
  });
});

describe("shimLoggerArgs / validateShimLoggerOptions", () => {
  it("gives the argument pairs for containerd's cio.BinaryIO, --log-driver first", () => {
    expect(shimLoggerArgs({ ...AWS, verbose: true })._unsafeUnwrap()).toEqual([
      ["--log-driver", "awslogs"],
      ["--container-id", "c1"],
      ["--container-name", "web"],
      ["--verbose=true", ""],
      ["--awslogs-group", "g"],
      ["--awslogs-region", "us-east-1"],
      ["--awslogs-stream", "s"],
    ]);
  });

  it("returns the options themselves when valid", () => {
    expect(validateShimLoggerOptions(AWS)._unsafeUnwrap()).toBe(AWS);
    expect(validateShimLoggerOptions({ ...AWS, mode: "x" as "blocking" }).isErr()).toBe(true);
  });
});

describe("parseShimLoggerUri", () => {
  const common = "--container-id=c1&--container-name=web";

  it.each([
    [`binary:///l?${common}`, "MissingOption", "log-driver"],
    [`binary:///l?${common}&--log-driver=gelf`, "UnknownDriver", "log-driver"],
    [`binary:///l?${common}&--log-driver=`, "UnknownDriver", "log-driver"],
    [`binary:///l?${common}&--log-driver=AWSLOGS`, "UnknownDriver", "log-driver"],
  ])("refuses %s", (uri, code, option) => {
    const e = parseShimLoggerUri(uri)._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
    expect(e.allowed).toEqual(["awslogs", "fluentd", "splunk", "json-file"]);
  });

  it("refuses binary-v2 (the binary never writes the ready byte) and file URIs", () => {
    const v2 = parseShimLoggerUri(`binary-v2:///l?${common}&--log-driver=fluentd`)._unsafeUnwrapErr();
    expect(v2.code).toBe("InvalidUri");
    expect(v2.message).toContain("binary-v2");
    const file = parseShimLoggerUri("file:///var/log/x.log")._unsafeUnwrapErr();
    expect(file.code).toBe("InvalidUri");
    expect(file.message).toContain("no logger");
  });

  it("passes URI errors through", () => {
    expect(parseShimLoggerUri("binary://host/l")._unsafeUnwrapErr().code).toBe("InvalidUri");
    expect(parseShimLoggerUri("binary:l")._unsafeUnwrapErr().code).toBe("NotAbsolutePath");
  });

  it("refuses a flag the binary does not know", () => {
    const e = parseShimLoggerUri(
      `binary:///l?${common}&--log-driver=fluentd&--fluentd-retry-wait=1s`,
    )._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidOption", option: "fluentd-retry-wait" });
    expect(e.message).toContain("unknown flag");
  });

  it("refuses another driver's flag", () => {
    const e = parseShimLoggerUri(`binary:///l?${common}&--log-driver=fluentd&--awslogs-group=g`)._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "ConflictingOptions", option: "awslogs-group" });
    expect(e.message).toContain("awslogs driver");
  });

  it("refuses a query key that is not a flag", () => {
    const e = parseShimLoggerUri(`binary:///l?${common}&log-driver=fluentd`)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
  });

  it("refuses the same flag twice in different spellings", () => {
    const e = parseShimLoggerUri(`binary:///l?${common}&--log-driver=fluentd&--log-driver%3Dfluentd=`);
    expect(e._unsafeUnwrapErr().message).toContain("twice");
  });

  it("never quotes a token in its errors", () => {
    const secret = "s3cr3t-token";
    for (const uri of [
      `binary-v2:///l?${common}&--log-driver=splunk&--splunk-token=${secret}`,
      `binary:///l?${common}&--log-driver=splunk&--splunk-token%3D${secret}=x`,
      `binary:///l?${common}&--log-driver=fluentd&--splunk-token=${secret}`,
    ]) {
      expect(parseShimLoggerUri(uri)._unsafeUnwrapErr().message).not.toContain(secret);
    }
  });

  it("reads flags written with the value inside the key", () => {
    const p = parseShimLoggerUri(`binary:///l?--container-id%3Dc1=&--container-name=web&--log-driver%3Dfluentd=`);
    expect(p._unsafeUnwrap().options).toEqual({ containerId: "c1", containerName: "web", driver: { name: "fluentd" } });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Seeded property tests: random valid configurations must survive build -> parse -> build unchanged, and
// semantically equivalent rewrites of a URI (argument order, Go boolean spellings, the joined `--k=v` key form,
// empty "unset" values) must parse back to the canonical URI.

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const FREE = [..."abcXYZ019-_. &=;#%+?/:@!*'(){}[]\"\\,\téü€😀｡"];
const NAME = [..."abcdefghijklmnopqrstuvwxyzABC0123456789_."];
const GROUP_CHARS = [..."abcXYZ019._-/#"];

const pick = <T>(next: Rng, items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
const maybe = (next: Rng, p = 0.5) => next() < p;
function text(next: Rng, min: number, max: number, alphabet: readonly string[] = FREE): string {
  const length = min + Math.floor(next() * (max - min + 1));
  let s = "";
  for (let i = 0; i < length; i++) s += pick(next, alphabet);
  return s;
}
const names = (next: Rng) => Array.from({ length: 1 + Math.floor(next() * 3) }, () => text(next, 1, 8, NAME));
const stringMap = (next: Rng) => {
  const map: Record<string, string> = {};
  for (let i = Math.floor(next() * 4); i > 0; i--) map[text(next, 1, 6, NAME)] = text(next, 0, 10);
  return map;
};

function randomAwslogs(next: Rng): AwslogsDriverOptions {
  const d: Mutable<AwslogsDriverOptions> = {
    name: "awslogs",
    group: text(next, 1, 20, GROUP_CHARS),
    region: pick(next, ["us-east-1", "eu-west-3", "us-gov-west-1", "ap-southeast-5"]),
    stream: text(
      next,
      1,
      20,
      FREE.filter((c) => c !== ":" && c !== "*"),
    ),
  };
  if (maybe(next)) d.credentialsEndpoint = `/v2/credentials/${text(next, 1, 12, NAME)}`;
  if (maybe(next)) d.createGroup = maybe(next);
  if (maybe(next)) d.createStream = maybe(next);
  const multiline = pick(next, ["none", "pattern", "datetime", "emf"] as const);
  if (multiline === "pattern") d.multilinePattern = text(next, 1, 12);
  if (multiline === "datetime") d.datetimeFormat = pick(next, ["%Y-%m-%d", "%b %d, %Y %H:%M:%S", "[%H:%M:%S%L]"]);
  if (multiline === "emf") d.format = "json/emf";
  if (maybe(next, 0.3)) d.endpoint = pick(next, ["https://logs.us-east-1.amazonaws.com", "http://127.0.0.1:4566"]);
  return d;
}

function randomFluentd(next: Rng): FluentdDriverOptions {
  const d: Mutable<FluentdDriverOptions> = { name: "fluentd" };
  if (maybe(next)) {
    d.address = pick(next, [
      "localhost:24224",
      "tcp://10.0.0.5:5170",
      "tls://logs.example.com:24224",
      "[::1]:24224",
      `unix:///var/lib/ecs/data/firelens/${text(next, 1, 8, NAME)}/socket/fluent.sock`,
    ]);
  }
  if (maybe(next)) d.async = maybe(next);
  if (maybe(next)) d.subSecondPrecision = maybe(next);
  if (maybe(next)) d.bufferLimit = 1 + Math.floor(next() * 10_000_000);
  if (maybe(next)) d.tag = text(next, 1, 16);
  if (maybe(next)) d.writeTimeout = pick(next, ["0", "5s", "1m", "250ms", "1h2m3s"]);
  return d;
}

function randomSplunk(next: Rng): SplunkDriverOptions {
  const d: Mutable<SplunkDriverOptions> = {
    name: "splunk",
    url: pick(next, ["https://splunk.example.com:8088", "http://10.1.2.3:8088/", "https://hec.example.com"]),
  };
  if (maybe(next)) d.token = text(next, 1, 36);
  else d.tokenEndpoint = "http://127.0.0.1:51679/splunk-token";
  if (maybe(next)) d.source = text(next, 1, 10);
  if (maybe(next)) d.sourcetype = text(next, 1, 10);
  if (maybe(next)) d.index = text(next, 1, 10);
  if (maybe(next, 0.3)) d.capath = `/etc/ssl/${text(next, 1, 10, NAME)}.pem`;
  if (maybe(next, 0.3)) d.caname = text(next, 1, 10);
  if (maybe(next)) d.insecureSkipVerify = maybe(next);
  if (maybe(next)) d.format = pick(next, ["inline", "json", "raw"] as const);
  if (maybe(next)) d.verifyConnection = maybe(next);
  if (maybe(next)) d.gzip = maybe(next);
  if (maybe(next)) d.gzipLevel = -1 + Math.floor(next() * 11);
  if (maybe(next)) d.tag = maybe(next, 0.2) ? "" : text(next, 1, 12);
  if (maybe(next)) d.labels = names(next);
  if (maybe(next)) d.env = names(next);
  if (maybe(next)) d.envRegex = text(next, 1, 10);
  return d;
}

function randomJsonFile(next: Rng): JsonFileDriverOptions {
  const d: Mutable<JsonFileDriverOptions> = { name: "json-file", logPath: `/var/log/${text(next, 1, 12)}.log` };
  if (maybe(next)) d.maxSize = pick(next, ["10m", "1k", "500", "1.5MB", "2 g"]);
  if (maybe(next)) d.maxFile = 1 + Math.floor(next() * 10);
  if (maybe(next)) d.compress = d.maxSize !== undefined && (d.maxFile ?? 1) >= 2 ? maybe(next) : false;
  if (maybe(next)) d.labels = names(next);
  if (maybe(next)) d.labelsRegex = text(next, 1, 10);
  if (maybe(next)) d.env = names(next);
  if (maybe(next)) d.envRegex = text(next, 1, 10);
  if (maybe(next)) d.tag = text(next, 1, 12);
  return d;
}

function randomOptions(next: Rng): ShimLoggerOptions {
  const driver: ShimLoggerDriverOptions = pick(next, [randomAwslogs, randomFluentd, randomSplunk, randomJsonFile])(
    next,
  );
  const o: Mutable<ShimLoggerCommonOptions> & { driver: ShimLoggerDriverOptions } = {
    containerId: maybe(next) ? text(next, 64, 64, [..."0123456789abcdef"]) : text(next, 1, 20),
    containerName: text(next, 1, 20),
    driver,
  };
  if (maybe(next)) o.mode = pick(next, ["blocking", "non-blocking"] as const);
  if (o.mode === "non-blocking" && maybe(next)) o.maxBufferSize = pick(next, ["1m", "10m", "512k", "200", "1.5MiB"]);
  if (maybe(next, 0.3)) o.uid = 1 + Math.floor(next() * 65_535);
  if (maybe(next, 0.3)) o.gid = 1 + Math.floor(next() * 65_535);
  if (maybe(next, 0.3)) o.cleanupTime = pick(next, ["0", "5s", "12s", "1.5s", "300ms", "11s999ms"]);
  if (maybe(next, 0.3)) o.verbose = maybe(next);
  if (maybe(next, 0.3)) o.containerImageId = `sha256:${text(next, 8, 8, [..."0123456789abcdef"])}`;
  if (maybe(next, 0.3)) o.containerImageName = text(next, 1, 20);
  if (maybe(next, 0.3)) o.containerEnv = stringMap(next);
  else if (maybe(next, 0.2)) o.containerEnvEndpoint = "http://127.0.0.1:51679/v4/env";
  if (maybe(next, 0.3)) o.containerLabels = stringMap(next);
  if (maybe(next, 0.1)) o.proxyVariable = "http://proxy.internal:3128";
  if (maybe(next, 0.1)) o.logFileDir = "C:\\ProgramData\\Amazon\\ECS\\log\\shim-logger";
  return o;
}

const PFLAG_BOOLS = new Set(["verbose", "fluentd-async", "fluentd-sub-second-precision"]);
const STRING_BOOLS = new Set([
  "awslogs-create-group",
  "awslogs-create-stream",
  "splunk-insecureskipverify",
  "splunk-verify-connection",
  "splunk-gzip",
  "compress",
]);
const TRUE_SPELLINGS = ["1", "t", "T", "TRUE", "true", "True"];
const FALSE_SPELLINGS = ["0", "f", "F", "FALSE", "false", "False"];
// Flags whose empty value the binary reads as "not set" (and so does parseShimLoggerUri), per driver.
const EMPTY_MEANS_UNSET: Readonly<Record<string, readonly string[]>> = {
  common: ["mode", "max-buffer-size", "cleanup-time", "container-image-id", "container-env", "proxy-variable"],
  awslogs: ["awslogs-endpoint", "awslogs-credentials-endpoint", "awslogs-create-group", "awslogs-format"],
  fluentd: ["fluentd-address", "fluentd-tag"],
  splunk: ["splunk-source", "splunk-index", "splunk-gzip", "labels", "env-regex"],
  "json-file": ["max-size", "compress", "json-file-tag", "json-file-env"],
};

/** Rewrites a canonical URI into an equivalent, messier one, as another tool (or a human) might write it. */
function noisy(next: Rng, uri: string, driver: string): string {
  const parsed = parseLogUri(uri)._unsafeUnwrap();
  if (parsed.scheme === "file") throw new Error("unexpected file URI");
  const args: LogUriArg[] = parsed.args.map(([key, value]) => {
    const joined = key.indexOf("=");
    const name = joined === -1 ? key.slice(2) : key.slice(2, joined);
    if (PFLAG_BOOLS.has(name)) {
      // The split form is only safe for true: bare `--flag` or `--flag true`.
      if (key.endsWith("=true") && maybe(next)) return [`--${name}`, pick(next, ["", "true", "1", "T"])];
      return [`--${name}=${pick(next, key.endsWith("=true") ? TRUE_SPELLINGS : FALSE_SPELLINGS)}`, ""];
    }
    let v = value;
    if (STRING_BOOLS.has(name)) v = pick(next, value === "true" ? TRUE_SPELLINGS : FALSE_SPELLINGS);
    return maybe(next, 0.3) ? [`--${name}=${v}`, ""] : [key, v];
  });
  const present = new Set(args.map(([key]) => key.slice(2).split("=")[0]));
  for (const name of [...(EMPTY_MEANS_UNSET.common ?? []), ...(EMPTY_MEANS_UNSET[driver] ?? [])]) {
    if (!present.has(name) && maybe(next, 0.3)) args.push([`--${name}`, ""]);
  }
  if (!present.has("uid") && maybe(next, 0.3)) args.push(["--uid", "-1"]);
  if (driver === "fluentd" && !present.has("fluentd-buffer-limit") && maybe(next, 0.3)) {
    args.push(["--fluentd-buffer-limit", pick(next, ["0", "-1"])]);
  }
  for (let i = args.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [args[i], args[j]] = [args[j] as LogUriArg, args[i] as LogUriArg];
  }
  const query = args.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  return `${uri.slice(0, uri.indexOf("?"))}?${query}`;
}

describe("build/parse stability (seeded property test)", () => {
  it("round-trips 1000 random valid configurations exactly", () => {
    const next = prng(20240601);
    const seen = new Set<string>();
    for (let run = 0; run < 1000; run++) {
      const options = randomOptions(next);
      const built = buildShimLoggerUri(BIN, options);
      if (built.isErr()) throw new Error(`run ${run}: ${built.error.message}\n${JSON.stringify(options)}`);
      const uri = built.value;
      const parsed = parseShimLoggerUri(uri)._unsafeUnwrap();
      expect(parsed.binaryPath).toBe(BIN);
      expect(parsed.options).toEqual(options);
      expect(buildShimLoggerUri(parsed.binaryPath, parsed.options)._unsafeUnwrap()).toBe(uri);
      seen.add(options.driver.name);
    }
    expect(seen.size).toBe(4);
  });

  it("parses 1000 equivalent rewrites back to the canonical URI", () => {
    const next = prng(0xb3e7);
    for (let run = 0; run < 1000; run++) {
      const options = randomOptions(next);
      const canonical = buildShimLoggerUri(BIN, options)._unsafeUnwrap();
      const messy = noisy(next, canonical, options.driver.name);
      const parsed = parseShimLoggerUri(messy);
      if (parsed.isErr()) throw new Error(`run ${run}: ${parsed.error.message}\n${messy}`);
      expect(buildShimLoggerUri(parsed.value.binaryPath, parsed.value.options)._unsafeUnwrap()).toBe(canonical);
    }
  });
});

describe("SHIM_LOGGER_FLAGS", () => {
  it("matches the flags shim-loggers-for-containerd registers (init.go)", () => {
    // Transcribed from the binary's flag registrations: common, Windows, Docker config, awslogs, fluentd,
    // json-file and splunk flags.
    const registered = [
      "container-id",
      "container-name",
      "log-driver",
      "mode",
      "max-buffer-size",
      "verbose",
      "uid",
      "gid",
      "cleanup-time",
      "proxy-variable",
      "log-file-dir",
      "container-image-id",
      "container-image-name",
      "container-env",
      "container-env-endpoint",
      "container-labels",
      "awslogs-group",
      "awslogs-region",
      "awslogs-stream",
      "awslogs-create-group",
      "awslogs-create-stream",
      "awslogs-credentials-endpoint",
      "awslogs-multiline-pattern",
      "awslogs-datetime-format",
      "awslogs-endpoint",
      "awslogs-format",
      "fluentd-address",
      "fluentd-async",
      "fluentd-sub-second-precision",
      "fluentd-buffer-limit",
      "fluentd-tag",
      "fluentd-write-timeout",
      "log-path",
      "max-size",
      "max-file",
      "compress",
      "json-file-labels",
      "json-file-labels-regex",
      "json-file-env",
      "json-file-env-regex",
      "json-file-tag",
      "splunk-token",
      "splunk-token-endpoint",
      "splunk-url",
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
      "splunk-tag",
      "labels",
      "env",
      "env-regex",
    ];
    expect([...SHIM_LOGGER_FLAGS].sort()).toEqual([...registered].sort());
    expect(new Set(SHIM_LOGGER_FLAGS).size).toBe(SHIM_LOGGER_FLAGS.length);
  });
});
