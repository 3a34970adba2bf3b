import { describe, expect, it } from "vitest";
import type { JsonFileDriverOptions } from "./json-file.js";
import { buildShimLoggerUri, parseShimLoggerUri, type ShimLoggerOptions } from "./shim-loggers.js";
import { parseLogUri } from "./uri.js";

const BIN = "/usr/local/bin/shim-loggers-for-containerd";
const LOG = "/var/log/berth/c1/c1-json.log";

function jsonFile(driver: Partial<JsonFileDriverOptions> = {}): ShimLoggerOptions {
  return { containerId: "c1", containerName: "web", driver: { name: "json-file", logPath: LOG, ...driver } };
}

function argsOf(uri: string): ReadonlyArray<readonly [string, string]> {
  const parsed = parseLogUri(uri)._unsafeUnwrap();
  return parsed.scheme === "file" ? [] : parsed.args;
}

describe("json-file: building", () => {
  it("writes the log path", () => {
    expect(buildShimLoggerUri(BIN, jsonFile())._unsafeUnwrap()).toBe(
      `binary://${BIN}?--container-id=c1&--container-name=web&--log-driver=json-file` +
        "&--log-path=%2Fvar%2Flog%2Fberth%2Fc1%2Fc1-json.log",
    );
  });

  it.each<[string, Partial<JsonFileDriverOptions>, readonly [string, string]]>([
    ["maxSize", { maxSize: "10m" }, ["--max-size", "10m"]],
    ["maxFile", { maxFile: 3 }, ["--max-file", "3"]],
    ["compress", { compress: true, maxSize: "10m", maxFile: 2 }, ["--compress", "true"]],
    ["compress false alone", { compress: false }, ["--compress", "false"]],
    ["labels", { labels: ["com.example.team", "app"] }, ["--json-file-labels", "com.example.team,app"]],
    ["labelsRegex", { labelsRegex: "^com\\.example\\." }, ["--json-file-labels-regex", "^com\\.example\\."]],
    ["env", { env: ["STAGE", "REGION"] }, ["--json-file-env", "STAGE,REGION"]],
    ["envRegex", { envRegex: "^APP_" }, ["--json-file-env-regex", "^APP_"]],
    ["tag", { tag: "{{.ImageName}}/{{.ID}}" }, ["--json-file-tag", "{{.ImageName}}/{{.ID}}"]],
  ])("writes %s", (_, driver, arg) => {
    const uri = buildShimLoggerUri(BIN, jsonFile(driver))._unsafeUnwrap();
    expect(argsOf(uri)).toContainEqual(arg);
    expect(parseShimLoggerUri(uri)._unsafeUnwrap().options.driver).toEqual(jsonFile(driver).driver);
  });

  it.each<[string, Partial<JsonFileDriverOptions>, string, string]>([
    ["a missing log path", { logPath: undefined as unknown as string }, "MissingOption", "log-path"],
    ["an empty log path", { logPath: "" }, "InvalidOption", "log-path"],
    ["a relative log path", { logPath: "logs/c1.log" }, "NotAbsolutePath", "log-path"],
    ["a zero max size", { maxSize: "0" }, "InvalidOption", "max-size"],
    ["a bad max size", { maxSize: "ten megs" }, "InvalidOption", "max-size"],
    ["a max size below one byte", { maxSize: "0.5" }, "InvalidOption", "max-size"],
    ["max-file 0", { maxFile: 0 }, "InvalidOption", "max-file"],
    ["a fractional max-file", { maxFile: 2.5 }, "InvalidOption", "max-file"],
    ["compress without max-size", { compress: true, maxFile: 3 }, "ConflictingOptions", "compress"],
    ["compress without max-file", { compress: true, maxSize: "1m" }, "ConflictingOptions", "compress"],
    ["compress with max-file 1", { compress: true, maxSize: "1m", maxFile: 1 }, "ConflictingOptions", "compress"],
    ["an empty tag", { tag: "" }, "InvalidOption", "json-file-tag"],
    ["a label with a comma", { labels: ["a,b"] }, "InvalidOption", "json-file-labels"],
    ["an empty env regex", { envRegex: "" }, "InvalidOption", "json-file-env-regex"],
  ])("refuses %s", (_, driver, code, option) => {
    const e = buildShimLoggerUri(BIN, jsonFile(driver))._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });

  it("reads max-size in decimal units (max-buffer-size uses binary ones)", () => {
    // 0.000999k is 0.999 bytes with k = 1000 (refused: below 1 byte) but 1.02 bytes with k = 1024 (accepted).
    expect(buildShimLoggerUri(BIN, jsonFile({ maxSize: "0.000999k" }))._unsafeUnwrapErr().option).toBe("max-size");
    const nonBlocking = { ...jsonFile(), mode: "non-blocking", maxBufferSize: "0.000999k" } as const;
    expect(buildShimLoggerUri(BIN, nonBlocking).isOk()).toBe(true);
    expect(buildShimLoggerUri(BIN, jsonFile({ maxSize: "0.001k" })).isOk()).toBe(true);
  });
});

describe("json-file: parsing", () => {
  const required = "--log-driver=json-file&--container-id=c1&--container-name=web";

  it("requires --log-path", () => {
    expect(parseShimLoggerUri(`binary:///l?${required}`)._unsafeUnwrapErr()).toMatchObject({
      code: "MissingOption",
      option: "log-path",
    });
  });

  it("reads '+3' as 3 and drops empty values", () => {
    const p = parseShimLoggerUri(
      `binary:///l?${required}&--log-path=%2Fx.log&--max-file=%2B3&--json-file-tag=&--max-size=&--compress=`,
    );
    expect(p._unsafeUnwrap().options.driver).toEqual({ name: "json-file", logPath: "/x.log", maxFile: 3 });
  });

  it.each([
    ["--max-file=three", "max-file"],
    ["--max-file=0", "max-file"],
    ["--max-size=-5", "max-size"],
    ["--compress=yes", "compress"],
    ["--json-file-env=a%2C", "json-file-env"],
  ])("refuses %s", (arg, option) => {
    const e = parseShimLoggerUri(`binary:///l?${required}&--log-path=%2Fx.log&${arg}`)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.option).toBe(option);
  });

  it("refuses compress=true without rotation", () => {
    const e = parseShimLoggerUri(`binary:///l?${required}&--log-path=%2Fx.log&--compress=true`)._unsafeUnwrapErr();
    expect(e.code).toBe("ConflictingOptions");
  });
});
