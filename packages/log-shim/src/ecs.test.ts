import { describe, expect, it } from "vitest";
import { type EcsLogConfiguration, type EcsLogContext, shimLoggerOptionsFromEcs } from "./ecs.js";
import { buildShimLoggerUri, parseShimLoggerUri } from "./shim-loggers.js";
import { parseLogUri } from "./uri.js";

const BIN = "/usr/local/bin/shim-loggers-for-containerd";
const TASK_ID = "1234567890abcdef0";
const CONTEXT: EcsLogContext = {
  containerId: "c0ffee",
  containerName: "web",
  taskArn: `arn:aws:ecs:us-east-1:012345678910:task/default/${TASK_ID}`,
};

const map = (config: EcsLogConfiguration, context: Partial<EcsLogContext> = {}) =>
  shimLoggerOptionsFromEcs(config, { ...CONTEXT, ...context });

describe("shimLoggerOptionsFromEcs: awslogs", () => {
  it("maps the AWS docs' Fargate example (stream = prefix/container-name/task-id)", () => {
    const result = map({
      logDriver: "awslogs",
      options: {
        "awslogs-group": "/ecs/fargate-task-definition",
        "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": "ecs",
      },
    })._unsafeUnwrap();
    expect(result).toEqual({
      options: {
        containerId: "c0ffee",
        containerName: "web",
        driver: {
          name: "awslogs",
          group: "/ecs/fargate-task-definition",
          region: "us-east-1",
          stream: `ecs/web/${TASK_ID}`,
        },
      },
    });
    const uri = buildShimLoggerUri(BIN, result.options)._unsafeUnwrap();
    expect(uri).toContain(`--awslogs-stream=ecs%2Fweb%2F${TASK_ID}`);
    expect(parseShimLoggerUri(uri)._unsafeUnwrap().options).toEqual(result.options);
  });

  it("maps create-group, a datetime format and non-blocking mode with an explicit buffer", () => {
    const { options } = map({
      logDriver: "awslogs",
      options: {
        "awslogs-group": "firelens-container",
        "awslogs-region": "us-west-2",
        "awslogs-create-group": "true",
        "awslogs-stream-prefix": "firelens",
        "awslogs-datetime-format": "%Y-%m-%d %H:%M:%S",
        mode: "non-blocking",
        "max-buffer-size": "25m",
      },
    })._unsafeUnwrap();
    expect(options).toMatchObject({
      mode: "non-blocking",
      maxBufferSize: "25m",
      driver: { createGroup: true, datetimeFormat: "%Y-%m-%d %H:%M:%S", stream: `firelens/web/${TASK_ID}` },
    });
  });

  it("gives non-blocking mode the ECS agent's 10m buffer when the task sets none", () => {
    const { options } = map({
      logDriver: "awslogs",
      options: { "awslogs-group": "g", "awslogs-region": "us-east-1", mode: "non-blocking" },
    })._unsafeUnwrap();
    expect(options.maxBufferSize).toBe("10m");
    expect(options.mode).toBe("non-blocking");
  });

  it("uses the container ID as the stream without a prefix, and an explicit awslogs-stream as given", () => {
    const base = { "awslogs-group": "g", "awslogs-region": "us-east-1" };
    expect(map({ logDriver: "awslogs", options: base })._unsafeUnwrap().options.driver).toMatchObject({
      stream: "c0ffee",
    });
    expect(
      map({ logDriver: "awslogs", options: { ...base, "awslogs-stream": "mine" } })._unsafeUnwrap().options.driver,
    ).toMatchObject({ stream: "mine" });
  });

  it("falls back to the context's region and applies the execution role's credentials endpoint", () => {
    const { options } = map(
      {
        logDriver: "awslogs",
        options: { "awslogs-group": "g", "awslogs-credentials-endpoint": "/v2/credentials/old" },
      },
      { region: "eu-central-1", executionRoleCredentialsEndpoint: "/v2/credentials/exec-role" },
    )._unsafeUnwrap();
    expect(options.driver).toMatchObject({ region: "eu-central-1", credentialsEndpoint: "/v2/credentials/exec-role" });
  });

  it.each<[string, Record<string, string>, Partial<EcsLogContext>, string, string]>([
    ["a missing group", { "awslogs-region": "us-east-1" }, {}, "MissingOption", "awslogs-group"],
    ["a missing region", { "awslogs-group": "g" }, {}, "MissingOption", "awslogs-region"],
    [
      "prefix and stream together",
      { "awslogs-group": "g", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "p", "awslogs-stream": "s" },
      {},
      "ConflictingOptions",
      "awslogs-stream",
    ],
    [
      "a bad create-group",
      { "awslogs-group": "g", "awslogs-region": "us-east-1", "awslogs-create-group": "yes" },
      {},
      "InvalidOption",
      "awslogs-create-group",
    ],
    [
      "an option the logger has no flag for",
      { "awslogs-group": "g", "awslogs-region": "us-east-1", "awslogs-max-buffered-events": "100" },
      {},
      "InvalidOption",
      "awslogs-max-buffered-events",
    ],
    [
      "Docker's awslogs tag",
      { "awslogs-group": "g", "awslogs-region": "us-east-1", tag: "x" },
      {},
      "InvalidOption",
      "tag",
    ],
    [
      "max-buffer-size in blocking mode",
      { "awslogs-group": "g", "awslogs-region": "us-east-1", "max-buffer-size": "4m" },
      {},
      "ConflictingOptions",
      "max-buffer-size",
    ],
    [
      "multiline pattern with datetime format",
      {
        "awslogs-group": "g",
        "awslogs-region": "us-east-1",
        "awslogs-multiline-pattern": "^x",
        "awslogs-datetime-format": "%Y",
      },
      {},
      "ConflictingOptions",
      "awslogs-datetime-format",
    ],
    [
      "a bad task ARN",
      { "awslogs-group": "g", "awslogs-region": "us-east-1" },
      { taskArn: "arn:aws:ecs:x:y:task/" },
      "InvalidOption",
      "taskArn",
    ],
    ["a bad mode", { "awslogs-group": "g", "awslogs-region": "us-east-1", mode: "async" }, {}, "InvalidOption", "mode"],
  ])("refuses %s", (_, options, context, code, option) => {
    const e = map({ logDriver: "awslogs", options }, context)._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });

  it("lists the supported option names when refusing one", () => {
    const e = map({ logDriver: "awslogs", options: { "awslogs-group": "g", nope: "1" } })._unsafeUnwrapErr();
    expect(e.allowed).toContain("awslogs-stream-prefix");
    expect(e.message).toContain("supported:");
  });
});

describe("shimLoggerOptionsFromEcs: awsfirelens", () => {
  const firehose = {
    logDriver: "awsfirelens",
    options: {
      Name: "firehose",
      region: "us-west-2",
      delivery_stream: "my-stream",
      "log-driver-buffer-limit": "2097152",
    },
  };

  it("maps the AWS docs' Firehose example to fluentd on the task's FireLens socket", () => {
    const result = map(firehose)._unsafeUnwrap();
    expect(result).toEqual({
      options: {
        containerId: "c0ffee",
        containerName: "web",
        driver: {
          name: "fluentd",
          address: `unix:///var/lib/ecs/data/firelens/${TASK_ID}/socket/fluent.sock`,
          tag: `web-firelens-${TASK_ID}`,
          subSecondPrecision: true,
          async: true,
          bufferLimit: 2097152,
        },
      },
      firelensRouterOptions: { Name: "firehose", region: "us-west-2", delivery_stream: "my-stream" },
    });
    const uri = buildShimLoggerUri(BIN, result.options)._unsafeUnwrap();
    const parsed = parseLogUri(uri)._unsafeUnwrap();
    expect(parsed.scheme === "binary" && parsed.args).toEqual(
      expect.arrayContaining([
        ["--fluentd-async=true", ""],
        ["--fluentd-sub-second-precision=true", ""],
        ["--fluentd-tag", `web-firelens-${TASK_ID}`],
      ]),
    );
  });

  it("uses the context's data directory and async setting, and needs no options", () => {
    const { options, firelensRouterOptions } = map(
      { logDriver: "awsfirelens" },
      { dataDir: "/data/ecs/", firelensAsync: false },
    )._unsafeUnwrap();
    expect(options.driver).toEqual({
      name: "fluentd",
      address: `unix:///data/ecs/firelens/${TASK_ID}/socket/fluent.sock`,
      tag: `web-firelens-${TASK_ID}`,
      subSecondPrecision: true,
      async: false,
    });
    expect(firelensRouterOptions).toEqual({});
  });

  it("like the ECS agent, hands mode to the router instead of the logger", () => {
    const { options, firelensRouterOptions } = map({
      logDriver: "awsfirelens",
      options: { Name: "cloudwatch", mode: "non-blocking" },
    })._unsafeUnwrap();
    expect(options.mode).toBeUndefined();
    expect(firelensRouterOptions).toEqual({ Name: "cloudwatch", mode: "non-blocking" });
  });

  it("reads a Docker-style buffer limit size", () => {
    const { options } = map({ logDriver: "awsfirelens", options: { "log-driver-buffer-limit": "1m" } })._unsafeUnwrap();
    expect(options.driver).toMatchObject({ bufferLimit: 1_048_576 });
  });

  it.each<[Record<string, string>, Partial<EcsLogContext>, string, string]>([
    [{ "log-driver-buffer-limit": "lots" }, {}, "InvalidOption", "log-driver-buffer-limit"],
    [{ "log-driver-buffer-limit": "0" }, {}, "InvalidOption", "fluentd-buffer-limit"],
    [{}, { dataDir: "var/lib/ecs/data" }, "NotAbsolutePath", "dataDir"],
    [{}, { taskArn: "" }, "InvalidOption", "taskArn"],
  ])("refuses %j with context %j", (options, context, code, option) => {
    const e = map({ logDriver: "awsfirelens", options }, context)._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });
});

describe("shimLoggerOptionsFromEcs: splunk, fluentd, json-file", () => {
  it("maps the AWS docs' splunk example with the token resolved from secretOptions", () => {
    const { options } = map({
      logDriver: "splunk",
      options: {
        "splunk-url": "https://cloud.splunk.com:8080",
        "splunk-token": "resolved-secret",
        tag: "{{.Name}}",
        "splunk-format": "json",
        "splunk-verify-connection": "false",
        labels: "team,app",
      },
    })._unsafeUnwrap();
    expect(options.driver).toEqual({
      name: "splunk",
      url: "https://cloud.splunk.com:8080",
      token: "resolved-secret",
      tag: "{{.Name}}",
      format: "json",
      verifyConnection: false,
      labels: ["team", "app"],
    });
    expect(buildShimLoggerUri(BIN, options).isOk()).toBe(true);
  });

  it.each<[Record<string, string>, string, string]>([
    [{ "splunk-token": "t" }, "MissingOption", "splunk-url"],
    [{ "splunk-url": "https://s:8088" }, "MissingOption", "splunk-token"],
    [
      { "splunk-url": "https://s:8088", "splunk-token": "t", "splunk-gzip-level": "max" },
      "InvalidOption",
      "splunk-gzip-level",
    ],
    [{ "splunk-url": "https://s:8088", "splunk-token": "t", "labels-regex": "x" }, "InvalidOption", "labels-regex"],
    [{ "splunk-url": "https://s:8088", "splunk-token": "t", "splunk-gzip": "on" }, "InvalidOption", "splunk-gzip"],
  ])("refuses splunk options %j", (options, code, option) => {
    const e = map({ logDriver: "splunk", options })._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });

  it("maps Docker's fluentd example (tag becomes --fluentd-tag)", () => {
    const { options } = map({
      logDriver: "fluentd",
      options: { "fluentd-address": "localhost:24224", tag: "docker.{{.Name}}", "fluentd-async": "true" },
    })._unsafeUnwrap();
    expect(options.driver).toEqual({
      name: "fluentd",
      address: "localhost:24224",
      tag: "docker.{{.Name}}",
      async: true,
    });
  });

  it("reads the deprecated fluentd-async-connect and Docker-style buffer limits", () => {
    const { options } = map({
      logDriver: "fluentd",
      options: { "fluentd-async-connect": "true", "fluentd-buffer-limit": "8k", "fluentd-write-timeout": "3s" },
    })._unsafeUnwrap();
    expect(options.driver).toEqual({ name: "fluentd", async: true, bufferLimit: 8192, writeTimeout: "3s" });
  });

  it.each<[Record<string, string>, string, string]>([
    [{ "fluentd-async": "true", "fluentd-async-connect": "true" }, "ConflictingOptions", "fluentd-async-connect"],
    [{ "fluentd-retry-wait": "1s" }, "InvalidOption", "fluentd-retry-wait"],
    [{ "fluentd-address": "udp://h:1" }, "InvalidOption", "fluentd-address"],
    [{ "fluentd-sub-second-precision": "maybe" }, "InvalidOption", "fluentd-sub-second-precision"],
  ])("refuses fluentd options %j", (options, code, option) => {
    const e = map({ logDriver: "fluentd", options })._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });

  it("maps json-file rotation options onto the context's log path", () => {
    const { options } = map(
      {
        logDriver: "json-file",
        options: { "max-size": "10m", "max-file": "3", compress: "true", labels: "a,b", env: "STAGE", tag: "{{.ID}}" },
      },
      { jsonFileLogPath: "/var/lib/berth/c0ffee/c0ffee-json.log" },
    )._unsafeUnwrap();
    expect(options.driver).toEqual({
      name: "json-file",
      logPath: "/var/lib/berth/c0ffee/c0ffee-json.log",
      maxSize: "10m",
      maxFile: 3,
      compress: true,
      labels: ["a", "b"],
      env: ["STAGE"],
      tag: "{{.ID}}",
    });
  });

  it.each<[Record<string, string>, Partial<EcsLogContext>, string, string]>([
    [{}, {}, "MissingOption", "log-path"],
    [{ "max-file": "many" }, { jsonFileLogPath: "/x.log" }, "InvalidOption", "max-file"],
    [{ compress: "true" }, { jsonFileLogPath: "/x.log" }, "ConflictingOptions", "compress"],
    [{}, { jsonFileLogPath: "x.log" }, "NotAbsolutePath", "log-path"],
  ])("refuses json-file options %j with context %j", (options, context, code, option) => {
    const e = map({ logDriver: "json-file", options }, context)._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });

  it.each([["gelf"], ["journald"], ["syslog"], ["AWSLOGS"]])("refuses the ECS log driver %s", (logDriver) => {
    const e = map({ logDriver })._unsafeUnwrapErr();
    expect(e.code).toBe("UnknownDriver");
    expect(e.allowed).toEqual(["awslogs", "fluentd", "splunk", "awsfirelens", "json-file"]);
  });
});
