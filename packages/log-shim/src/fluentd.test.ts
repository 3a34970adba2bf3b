import { describe, expect, it } from "vitest";
import { type FluentdAddress, type FluentdDriverOptions, parseFluentdAddress } from "./fluentd.js";
import { buildShimLoggerUri, parseShimLoggerUri, type ShimLoggerOptions } from "./shim-loggers.js";
import { parseLogUri } from "./uri.js";

const BIN = "/usr/local/bin/shim-loggers-for-containerd";

function fluentd(driver: Partial<FluentdDriverOptions> = {}): ShimLoggerOptions {
  return { containerId: "c1", containerName: "web", driver: { name: "fluentd", ...driver } };
}

function argsOf(uri: string): ReadonlyArray<readonly [string, string]> {
  const parsed = parseLogUri(uri)._unsafeUnwrap();
  return parsed.scheme === "file" ? [] : parsed.args;
}

describe("parseFluentdAddress (Docker's fluentd address forms)", () => {
  it.each<[string, FluentdAddress]>([
    ["", { protocol: "tcp", host: "127.0.0.1", port: 24224 }],
    ["localhost:24224", { protocol: "tcp", host: "localhost", port: 24224 }],
    ["fluentd.internal", { protocol: "tcp", host: "fluentd.internal", port: 24224 }],
    ["10.0.0.5:5170", { protocol: "tcp", host: "10.0.0.5", port: 5170 }],
    ["tcp://10.0.0.5:5170", { protocol: "tcp", host: "10.0.0.5", port: 5170 }],
    ["TCP://h:1", { protocol: "tcp", host: "h", port: 1 }],
    ["tcp://:24225", { protocol: "tcp", host: "127.0.0.1", port: 24225 }],
    ["tcp://h:", { protocol: "tcp", host: "h", port: 24224 }],
    ["tls://logs.example.com:24224", { protocol: "tls", host: "logs.example.com", port: 24224 }],
    ["[::1]:24224", { protocol: "tcp", host: "::1", port: 24224 }],
    ["tcp://[fd00::5]", { protocol: "tcp", host: "fd00::5", port: 24224 }],
    ["unix:///var/run/fluent.sock", { protocol: "unix", path: "/var/run/fluent.sock" }],
    [
      "unix:///var/lib/ecs/data/firelens/abc/socket/fluent.sock",
      { protocol: "unix", path: "/var/lib/ecs/data/firelens/abc/socket/fluent.sock" },
    ],
  ])("reads %j", (address, expected) => {
    expect(parseFluentdAddress(address)._unsafeUnwrap()).toEqual(expected);
  });

  it.each([
    ["unix://relative/fluent.sock", "NotAbsolutePath", "three slashes"],
    ["unix://", "NotAbsolutePath", "three slashes"],
    ["unix:///", "InvalidOption", "empty socket path"],
    ["unix:////", "InvalidOption", "empty socket path"],
    ["udp://h:1", "InvalidOption", "unsupported scheme"],
    ["http://h:1", "InvalidOption", "unsupported scheme"],
    ["tcp://h:24224/", "InvalidOption", "path"],
    ["h:24224/x", "InvalidOption", "path"],
    ["tcp://h:0", "InvalidOption", "port"],
    ["tcp://h:65536", "InvalidOption", "port"],
    ["h:99999999", "InvalidOption", "port"],
    ["h:port", "InvalidOption", "invalid host"],
    ["::1:24224", "InvalidOption", "invalid host"],
    ["user@h:1", "InvalidOption", "'@'"],
    ["h:1?x", "InvalidOption", "'?'"],
    ["unix:///a%20b", "InvalidOption", "'%'"],
    ["h 1", "InvalidOption", "whitespace"],
  ])("refuses %j", (address, code, text) => {
    const e = parseFluentdAddress(address)._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe("fluentd-address");
    expect(e.message).toContain(text);
  });

  it("lists the schemes for an unsupported one", () => {
    expect(parseFluentdAddress("udp://h:1")._unsafeUnwrapErr().allowed).toEqual(["tcp", "tls", "unix"]);
  });
});

describe("fluentd: building", () => {
  it("needs no driver flag at all", () => {
    expect(buildShimLoggerUri(BIN, fluentd())._unsafeUnwrap()).toBe(
      `binary://${BIN}?--container-id=c1&--container-name=web&--log-driver=fluentd`,
    );
  });

  it("writes its booleans with the value inside the key, so false stays false", () => {
    const uri = buildShimLoggerUri(BIN, fluentd({ async: false, subSecondPrecision: false }))._unsafeUnwrap();
    expect(uri).toContain("--fluentd-async%3Dfalse=");
    expect(uri).toContain("--fluentd-sub-second-precision%3Dfalse=");
    expect(argsOf(uri)).toContainEqual(["--fluentd-async=false", ""]);
    expect(parseShimLoggerUri(uri)._unsafeUnwrap().options.driver).toEqual({
      name: "fluentd",
      async: false,
      subSecondPrecision: false,
    });
  });

  it.each<[string, Partial<FluentdDriverOptions>, readonly [string, string]]>([
    ["address", { address: "unix:///var/run/fluent.sock" }, ["--fluentd-address", "unix:///var/run/fluent.sock"]],
    ["async", { async: true }, ["--fluentd-async=true", ""]],
    ["subSecondPrecision", { subSecondPrecision: true }, ["--fluentd-sub-second-precision=true", ""]],
    ["bufferLimit", { bufferLimit: 2097152 }, ["--fluentd-buffer-limit", "2097152"]],
    ["tag", { tag: "docker.{{.Name}}" }, ["--fluentd-tag", "docker.{{.Name}}"]],
    ["writeTimeout", { writeTimeout: "10s" }, ["--fluentd-write-timeout", "10s"]],
    ["writeTimeout 0", { writeTimeout: "0" }, ["--fluentd-write-timeout", "0"]],
  ])("writes %s", (_, driver, arg) => {
    const uri = buildShimLoggerUri(BIN, fluentd(driver))._unsafeUnwrap();
    expect(argsOf(uri)).toContainEqual(arg);
    expect(parseShimLoggerUri(uri)._unsafeUnwrap().options.driver).toEqual(fluentd(driver).driver);
  });

  it.each<[string, Partial<FluentdDriverOptions>, string, string]>([
    ["an empty address", { address: "" }, "InvalidOption", "fluentd-address"],
    ["a bad address", { address: "udp://h:1" }, "InvalidOption", "fluentd-address"],
    ["a relative unix socket", { address: "unix://run/fluent.sock" }, "NotAbsolutePath", "fluentd-address"],
    ["async as a string", { async: "false" as unknown as boolean }, "InvalidOption", "fluentd-async"],
    ["a zero buffer limit", { bufferLimit: 0 }, "InvalidOption", "fluentd-buffer-limit"],
    ["a negative buffer limit", { bufferLimit: -1 }, "InvalidOption", "fluentd-buffer-limit"],
    ["a fractional buffer limit", { bufferLimit: 1.5 }, "InvalidOption", "fluentd-buffer-limit"],
    ["an empty tag", { tag: "" }, "InvalidOption", "fluentd-tag"],
    ["a bad write timeout", { writeTimeout: "5" }, "InvalidOption", "fluentd-write-timeout"],
    ["a negative write timeout", { writeTimeout: "-1s" }, "InvalidOption", "fluentd-write-timeout"],
    ["a numeric write timeout", { writeTimeout: 5 as unknown as string }, "InvalidOption", "fluentd-write-timeout"],
  ])("refuses %s", (_, driver, code, option) => {
    const e = buildShimLoggerUri(BIN, fluentd(driver))._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });
});

describe("fluentd: parsing", () => {
  const required = "--log-driver=fluentd&--container-id=c1&--container-name=web";

  it("refuses a boolean written ?--fluentd-async=false, which the binary would read as true", () => {
    const e = parseShimLoggerUri(`binary:///l?${required}&--fluentd-async=false`)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.option).toBe("fluentd-async");
    expect(e.message).toContain("%3D");
  });

  it("reads ?--fluentd-async=true and a bare ?--fluentd-sub-second-precision as true", () => {
    const p = parseShimLoggerUri(`binary:///l?${required}&--fluentd-async=true&--fluentd-sub-second-precision`);
    expect(p._unsafeUnwrap().options.driver).toEqual({ name: "fluentd", async: true, subSecondPrecision: true });
  });

  it("reads a buffer limit of 0 or -1 (the binary's 'unset') as absent, and empty strings too", () => {
    for (const limit of ["0", "-1"]) {
      const p = parseShimLoggerUri(
        `binary:///l?${required}&--fluentd-buffer-limit=${limit}&--fluentd-tag=&--fluentd-address=`,
      );
      expect(p._unsafeUnwrap().options.driver).toEqual({ name: "fluentd" });
    }
  });

  it.each([
    ["--fluentd-buffer-limit=1m", "fluentd-buffer-limit"],
    ["--fluentd-buffer-limit=", "fluentd-buffer-limit"],
    ["--fluentd-write-timeout=", "fluentd-write-timeout"],
    ["--fluentd-write-timeout=5", "fluentd-write-timeout"],
    ["--fluentd-address=tcp%3A%2F%2Fh%3A1%2Fx", "fluentd-address"],
  ])("refuses %s", (arg, option) => {
    const e = parseShimLoggerUri(`binary:///l?${required}&${arg}`)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.option).toBe(option);
  });
});
