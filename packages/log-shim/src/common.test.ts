import { describe, expect, it } from "vitest";
import type { ShimLoggerCommonOptions } from "./common.js";
import { buildShimLoggerUri, parseShimLoggerUri, type ShimLoggerOptions } from "./shim-loggers.js";
import { parseLogUri } from "./uri.js";

const BIN = "/usr/local/bin/shim-loggers-for-containerd";

function withCommon(common: Partial<ShimLoggerCommonOptions> = {}): ShimLoggerOptions {
  return { containerId: "c1", containerName: "web", driver: { name: "fluentd" }, ...common };
}

function argsOf(uri: string): ReadonlyArray<readonly [string, string]> {
  const parsed = parseLogUri(uri)._unsafeUnwrap();
  return parsed.scheme === "file" ? [] : parsed.args;
}

const FLUENTD = "--log-driver=fluentd";

describe("common options: building", () => {
  it.each<[string, Partial<ShimLoggerCommonOptions>, readonly [string, string]]>([
    ["mode", { mode: "blocking" }, ["--mode", "blocking"]],
    ["non-blocking mode", { mode: "non-blocking" }, ["--mode", "non-blocking"]],
    ["maxBufferSize", { mode: "non-blocking", maxBufferSize: "10m" }, ["--max-buffer-size", "10m"]],
    ["uid", { uid: 1000 }, ["--uid", "1000"]],
    ["gid", { gid: 4_294_967_294 }, ["--gid", "4294967294"]],
    ["cleanupTime", { cleanupTime: "12s" }, ["--cleanup-time", "12s"]],
    ["cleanupTime 0", { cleanupTime: "0" }, ["--cleanup-time", "0"]],
    ["cleanupTime with mixed units", { cleanupTime: "11s999ms" }, ["--cleanup-time", "11s999ms"]],
    ["verbose", { verbose: true }, ["--verbose=true", ""]],
    ["verbose false", { verbose: false }, ["--verbose=false", ""]],
    ["containerImageId", { containerImageId: "sha256:abc" }, ["--container-image-id", "sha256:abc"]],
    [
      "containerImageName",
      { containerImageName: "public.ecr.aws/nginx:1" },
      ["--container-image-name", "public.ecr.aws/nginx:1"],
    ],
    ["containerEnv (keys sorted)", { containerEnv: { B: "2", A: "x y" } }, ["--container-env", '{"A":"x y","B":"2"}']],
    ["an empty containerEnv", { containerEnv: {} }, ["--container-env", "{}"]],
    [
      "containerEnvEndpoint",
      { containerEnvEndpoint: "http://127.0.0.1:51679/env" },
      ["--container-env-endpoint", "http://127.0.0.1:51679/env"],
    ],
    ["containerLabels", { containerLabels: { "com.example": "v" } }, ["--container-labels", '{"com.example":"v"}']],
    ["proxyVariable", { proxyVariable: "http://proxy:3128" }, ["--proxy-variable", "http://proxy:3128"]],
    [
      "logFileDir",
      { logFileDir: "C:\\ProgramData\\Amazon\\ECS\\log" },
      ["--log-file-dir", "C:\\ProgramData\\Amazon\\ECS\\log"],
    ],
  ])("writes %s", (_, common, arg) => {
    const options = withCommon(common);
    const uri = buildShimLoggerUri(BIN, options)._unsafeUnwrap();
    expect(argsOf(uri)).toContainEqual(arg);
    expect(parseShimLoggerUri(uri)._unsafeUnwrap().options).toEqual(options);
  });

  it.each<[string, Partial<ShimLoggerCommonOptions>, string, string]>([
    ["a missing container ID", { containerId: undefined as unknown as string }, "MissingOption", "container-id"],
    ["an empty container ID", { containerId: "" }, "InvalidOption", "container-id"],
    ["a missing container name", { containerName: undefined as unknown as string }, "MissingOption", "container-name"],
    ["an unknown mode", { mode: "async" as "blocking" }, "InvalidOption", "mode"],
    ["max-buffer-size without a mode", { maxBufferSize: "1m" }, "ConflictingOptions", "max-buffer-size"],
    [
      "max-buffer-size in blocking mode",
      { mode: "blocking", maxBufferSize: "1m" },
      "ConflictingOptions",
      "max-buffer-size",
    ],
    ["a zero max-buffer-size", { mode: "non-blocking", maxBufferSize: "0" }, "InvalidOption", "max-buffer-size"],
    ["a bad max-buffer-size", { mode: "non-blocking", maxBufferSize: "1 meg" }, "InvalidOption", "max-buffer-size"],
    [
      "a numeric max-buffer-size",
      { mode: "non-blocking", maxBufferSize: 1024 as unknown as string },
      "InvalidOption",
      "max-buffer-size",
    ],
    ["uid 0", { uid: 0 }, "InvalidOption", "uid"],
    ["gid 0", { gid: 0 }, "InvalidOption", "gid"],
    ["uid -1", { uid: -1 }, "InvalidOption", "uid"],
    ["a fractional gid", { gid: 1.5 }, "InvalidOption", "gid"],
    ["uid 2^32-1", { uid: 4_294_967_295 }, "InvalidOption", "uid"],
    ["cleanup-time over 12s", { cleanupTime: "12s1ns" }, "InvalidOption", "cleanup-time"],
    ["cleanup-time of a minute", { cleanupTime: "1m" }, "InvalidOption", "cleanup-time"],
    ["a negative cleanup-time", { cleanupTime: "-1s" }, "InvalidOption", "cleanup-time"],
    ["a cleanup-time without unit", { cleanupTime: "5" }, "InvalidOption", "cleanup-time"],
    ["a numeric cleanup-time", { cleanupTime: 5 as unknown as string }, "InvalidOption", "cleanup-time"],
    ["verbose as a string", { verbose: "true" as unknown as boolean }, "InvalidOption", "verbose"],
    ["an empty image name", { containerImageName: "" }, "InvalidOption", "container-image-name"],
    [
      "env with a non-string value",
      { containerEnv: { A: 1 } as unknown as Record<string, string> },
      "InvalidOption",
      "container-env",
    ],
    [
      "env as an array",
      { containerEnv: ["A=1"] as unknown as Record<string, string> },
      "InvalidOption",
      "container-env",
    ],
    [
      "env and env endpoint",
      { containerEnv: { A: "1" }, containerEnvEndpoint: "http://h/env" },
      "ConflictingOptions",
      "container-env-endpoint",
    ],
    [
      "a non-http env endpoint",
      { containerEnvEndpoint: "unix:///env.sock" },
      "InvalidOption",
      "container-env-endpoint",
    ],
    [
      "labels as null",
      { containerLabels: null as unknown as Record<string, string> },
      "InvalidOption",
      "container-labels",
    ],
    ["an empty proxy variable", { proxyVariable: "" }, "InvalidOption", "proxy-variable"],
  ])("refuses %s", (_, common, code, option) => {
    const e = buildShimLoggerUri(BIN, withCommon(common))._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });

  it("lists the modes", () => {
    const e = buildShimLoggerUri(BIN, withCommon({ mode: "x" as "blocking" }))._unsafeUnwrapErr();
    expect(e.allowed).toEqual(["blocking", "non-blocking"]);
  });

  it("says why uid 0 is refused", () => {
    expect(buildShimLoggerUri(BIN, withCommon({ uid: 0 }))._unsafeUnwrapErr().message).toContain("refused");
  });
});

describe("common options: parsing", () => {
  const base = `binary:///l?${FLUENTD}&--container-id=c1&--container-name=web`;

  it.each(["container-id", "container-name"])("requires --%s", (flag) => {
    const uri = `binary:///l?${FLUENTD}&--container-id=c1&--container-name=web`.replace(
      new RegExp(`&--${flag}=[^&]*`),
      "",
    );
    expect(parseShimLoggerUri(uri)._unsafeUnwrapErr()).toMatchObject({ code: "MissingOption", option: flag });
  });

  it("refuses an empty container ID", () => {
    const e = parseShimLoggerUri(`binary:///l?${FLUENTD}&--container-id=&--container-name=web`)._unsafeUnwrapErr();
    expect(e).toMatchObject({ code: "InvalidOption", option: "container-id" });
  });

  it("reads negative uid/gid (the binary's 'unset') and empty strings as absent", () => {
    const p = parseShimLoggerUri(
      `${base}&--uid=-1&--gid=-5&--mode=&--max-buffer-size=&--cleanup-time=&--container-image-id=&--container-env=`,
    );
    expect(p._unsafeUnwrap().options).toEqual(withCommon());
  });

  it("reads the verbose flag in both safe forms", () => {
    expect(parseShimLoggerUri(`${base}&--verbose%3Dfalse=`)._unsafeUnwrap().options.verbose).toBe(false);
    expect(parseShimLoggerUri(`${base}&--verbose=true`)._unsafeUnwrap().options.verbose).toBe(true);
    expect(parseShimLoggerUri(`${base}&--verbose=false`)._unsafeUnwrapErr().option).toBe("verbose");
  });

  it("reads container env and labels JSON", () => {
    const env = encodeURIComponent('{"A":"1","B":"two words"}');
    const p = parseShimLoggerUri(`${base}&--container-env=${env}&--container-labels=%7B%7D`)._unsafeUnwrap();
    expect(p.options.containerEnv).toEqual({ A: "1", B: "two words" });
    expect(p.options.containerLabels).toEqual({});
  });

  it.each([
    ["--uid=0", "InvalidOption", "uid"],
    ["--uid=", "InvalidOption", "uid"],
    ["--gid=0x10", "InvalidOption", "gid"],
    ["--mode=Blocking", "InvalidOption", "mode"],
    ["--max-buffer-size=1m", "ConflictingOptions", "max-buffer-size"],
    ["--mode=non-blocking&--max-buffer-size=1x", "InvalidOption", "max-buffer-size"],
    ["--cleanup-time=13s", "InvalidOption", "cleanup-time"],
    ["--container-env=%7Bnot-json", "InvalidOption", "container-env"],
    ["--container-env=%5B%5D", "InvalidOption", "container-env"],
    ["--container-labels=%7B%22a%22%3A1%7D", "InvalidOption", "container-labels"],
  ])("refuses %s", (arg, code, option) => {
    const e = parseShimLoggerUri(`${base}&${arg}`)._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });

  it("keeps the JSON parse error as the cause", () => {
    const e = parseShimLoggerUri(`${base}&--container-env=%7Bnot-json`)._unsafeUnwrapErr();
    expect(e.cause).toBeInstanceOf(SyntaxError);
  });
});
