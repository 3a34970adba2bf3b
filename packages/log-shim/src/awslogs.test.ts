import { describe, expect, it } from "vitest";
import type { AwslogsDriverOptions } from "./awslogs.js";
import { buildShimLoggerUri, parseShimLoggerUri, type ShimLoggerOptions } from "./shim-loggers.js";
import { parseLogUri } from "./uri.js";

const BIN = "/usr/local/bin/shim-loggers-for-containerd";

function aws(driver: Partial<AwslogsDriverOptions> = {}): ShimLoggerOptions {
  return {
    containerId: "c1",
    containerName: "web",
    driver: { name: "awslogs", group: "/ecs/web", region: "us-east-1", stream: "ecs/web/task1", ...driver },
  };
}

function argsOf(uri: string): ReadonlyArray<readonly [string, string]> {
  const parsed = parseLogUri(uri)._unsafeUnwrap();
  return parsed.scheme === "file" ? [] : parsed.args;
}

describe("awslogs: building", () => {
  it("writes the three required flags and the common ones, sorted", () => {
    expect(buildShimLoggerUri(BIN, aws())._unsafeUnwrap()).toBe(
      `binary://${BIN}?--awslogs-group=%2Fecs%2Fweb&--awslogs-region=us-east-1&--awslogs-stream=ecs%2Fweb%2Ftask1` +
        "&--container-id=c1&--container-name=web&--log-driver=awslogs",
    );
  });

  it.each<[string, Partial<AwslogsDriverOptions>, string, string]>([
    [
      "credentialsEndpoint",
      { credentialsEndpoint: "/v2/credentials/abc" },
      "--awslogs-credentials-endpoint",
      "/v2/credentials/abc",
    ],
    ["createGroup", { createGroup: true }, "--awslogs-create-group", "true"],
    ["createGroup false", { createGroup: false }, "--awslogs-create-group", "false"],
    ["createStream", { createStream: false }, "--awslogs-create-stream", "false"],
    [
      "multilinePattern",
      { multilinePattern: "^\\d{4}-\\d{2} [A-Z]+&x" },
      "--awslogs-multiline-pattern",
      "^\\d{4}-\\d{2} [A-Z]+&x",
    ],
    ["datetimeFormat", { datetimeFormat: "%Y-%m-%dT%H:%M:%S" }, "--awslogs-datetime-format", "%Y-%m-%dT%H:%M:%S"],
    [
      "endpoint",
      { endpoint: "https://logs.us-east-1.amazonaws.com" },
      "--awslogs-endpoint",
      "https://logs.us-east-1.amazonaws.com",
    ],
    ["format", { format: "json/emf" }, "--awslogs-format", "json/emf"],
  ])("writes %s as %s", (_, driver, flag, value) => {
    const uri = buildShimLoggerUri(BIN, aws(driver))._unsafeUnwrap();
    expect(argsOf(uri)).toContainEqual([flag, value]);
    expect(parseShimLoggerUri(uri)._unsafeUnwrap().options.driver).toEqual(aws(driver).driver);
  });

  it.each(["us-east-1", "us-gov-west-1", "cn-north-1", "eu-isoe-west-1", "ap-southeast-5", "il-central-1"])(
    "accepts the region %s",
    (region) => {
      expect(buildShimLoggerUri(BIN, aws({ region })).isOk()).toBe(true);
    },
  );

  it.each(["/ecs/web", "a", "my-app_1.log#2/x", "A".repeat(512)])("accepts the group %j", (group) => {
    expect(buildShimLoggerUri(BIN, aws({ group })).isOk()).toBe(true);
  });

  it.each<[string, Partial<AwslogsDriverOptions>, string, string]>([
    ["a missing group", { group: undefined as unknown as string }, "MissingOption", "awslogs-group"],
    ["an empty group", { group: "" }, "InvalidOption", "awslogs-group"],
    ["a group with a space", { group: "my group" }, "InvalidOption", "awslogs-group"],
    ["a group with ':'", { group: "a:b" }, "InvalidOption", "awslogs-group"],
    ["a 513-character group", { group: "g".repeat(513) }, "InvalidOption", "awslogs-group"],
    ["a missing region", { region: undefined as unknown as string }, "MissingOption", "awslogs-region"],
    ["an upper-case region", { region: "US-EAST-1" }, "InvalidOption", "awslogs-region"],
    ["a region without dashes", { region: "useast1" }, "InvalidOption", "awslogs-region"],
    ["a missing stream", { stream: undefined as unknown as string }, "MissingOption", "awslogs-stream"],
    ["an empty stream", { stream: "" }, "InvalidOption", "awslogs-stream"],
    ["a stream with ':'", { stream: "a:b" }, "InvalidOption", "awslogs-stream"],
    ["a stream with '*'", { stream: "a*" }, "InvalidOption", "awslogs-stream"],
    ["a 513-character stream", { stream: "s".repeat(513) }, "InvalidOption", "awslogs-stream"],
    [
      "a credentials endpoint URL",
      { credentialsEndpoint: "http://169.254.170.2/v2/x" },
      "InvalidOption",
      "awslogs-credentials-endpoint",
    ],
    ["an empty credentials endpoint", { credentialsEndpoint: "" }, "InvalidOption", "awslogs-credentials-endpoint"],
    ["createGroup as a string", { createGroup: "true" as unknown as boolean }, "InvalidOption", "awslogs-create-group"],
    ["createStream as a number", { createStream: 1 as unknown as boolean }, "InvalidOption", "awslogs-create-stream"],
    ["an empty multiline pattern", { multilinePattern: "" }, "InvalidOption", "awslogs-multiline-pattern"],
    [
      "multiline pattern with datetime format",
      { multilinePattern: "^x", datetimeFormat: "%Y" },
      "ConflictingOptions",
      "awslogs-datetime-format",
    ],
    ["a non-http endpoint", { endpoint: "ftp://logs.example.com" }, "InvalidOption", "awslogs-endpoint"],
    [
      "an endpoint that is not a URL",
      { endpoint: "logs.us-east-1.amazonaws.com" },
      "InvalidOption",
      "awslogs-endpoint",
    ],
    ["an unknown format", { format: "json" as "json/emf" }, "InvalidOption", "awslogs-format"],
    [
      "json/emf with a multiline pattern",
      { format: "json/emf", multilinePattern: "^x" },
      "ConflictingOptions",
      "awslogs-format",
    ],
    [
      "json/emf with a datetime format",
      { format: "json/emf", datetimeFormat: "%Y" },
      "ConflictingOptions",
      "awslogs-format",
    ],
  ])("refuses %s", (_, driver, code, option) => {
    const e = buildShimLoggerUri(BIN, aws(driver))._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
    expect(e.message).toContain(`--${option}`);
  });

  it("lists json/emf as the only format", () => {
    expect(buildShimLoggerUri(BIN, aws({ format: "text" as "json/emf" }))._unsafeUnwrapErr().allowed).toEqual([
      "json/emf",
    ]);
  });
});

describe("awslogs: parsing", () => {
  const required = "--log-driver=awslogs&--container-id=c1&--container-name=web";

  it("reads the shim README's style of URI", () => {
    const p = parseShimLoggerUri(
      `binary:///usr/bin/shim-loggers-for-containerd?${required}&--awslogs-group=g&--awslogs-region=eu-west-1` +
        "&--awslogs-stream=s&--awslogs-create-group=true&--awslogs-credentials-endpoint=%2Fv2%2Fcredentials%2Fx",
    )._unsafeUnwrap();
    expect(p.binaryPath).toBe("/usr/bin/shim-loggers-for-containerd");
    expect(p.options).toEqual({
      containerId: "c1",
      containerName: "web",
      driver: {
        name: "awslogs",
        group: "g",
        region: "eu-west-1",
        stream: "s",
        createGroup: true,
        credentialsEndpoint: "/v2/credentials/x",
      },
    });
  });

  it.each(["awslogs-group", "awslogs-region", "awslogs-stream"])("requires --%s", (flag) => {
    const all = ["--awslogs-group=g", "--awslogs-region=us-east-1", "--awslogs-stream=s"].filter(
      (a) => !a.startsWith(`--${flag}=`),
    );
    const e = parseShimLoggerUri(`binary:///l?${required}&${all.join("&")}`)._unsafeUnwrapErr();
    expect(e.code).toBe("MissingOption");
    expect(e.option).toBe(flag);
  });

  it("normalises Go boolean spellings and drops empty optional values", () => {
    const uri =
      `binary:///l?${required}&--awslogs-group=g&--awslogs-region=us-east-1&--awslogs-stream=s` +
      "&--awslogs-create-group=TRUE&--awslogs-create-stream=0&--awslogs-endpoint=&--awslogs-format=";
    const p = parseShimLoggerUri(uri)._unsafeUnwrap();
    expect(p.options.driver).toEqual({
      name: "awslogs",
      group: "g",
      region: "us-east-1",
      stream: "s",
      createGroup: true,
      createStream: false,
    });
    const rebuilt = buildShimLoggerUri(p.binaryPath, p.options)._unsafeUnwrap();
    expect(argsOf(rebuilt)).toContainEqual(["--awslogs-create-group", "true"]);
    expect(argsOf(rebuilt)).toContainEqual(["--awslogs-create-stream", "false"]);
    expect(rebuilt).not.toContain("awslogs-endpoint");
  });

  it("applies the same rules as building", () => {
    const e = parseShimLoggerUri(
      `binary:///l?${required}&--awslogs-group=g&--awslogs-region=us-east-1&--awslogs-stream=s` +
        "&--awslogs-multiline-pattern=x&--awslogs-datetime-format=%25Y",
    )._unsafeUnwrapErr();
    expect(e.code).toBe("ConflictingOptions");
  });

  it("refuses a non-boolean create-group", () => {
    const e = parseShimLoggerUri(
      `binary:///l?${required}&--awslogs-group=g&--awslogs-region=us-east-1&--awslogs-stream=s&--awslogs-create-group=yes`,
    )._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.option).toBe("awslogs-create-group");
  });
});
