import { describe, expect, it } from "vitest";
import { buildShimLoggerUri, parseShimLoggerUri, type ShimLoggerOptions } from "./shim-loggers.js";
import type { SplunkDriverOptions } from "./splunk.js";
import { parseLogUri } from "./uri.js";

const BIN = "/usr/local/bin/shim-loggers-for-containerd";

function splunk(driver: Partial<SplunkDriverOptions> = {}): ShimLoggerOptions {
  return {
    containerId: "c1",
    containerName: "web",
    driver: {
      name: "splunk",
      url: "https://splunk.example.com:8088",
      token: "00000000-0000-0000-0000-000000000000",
      ...driver,
    },
  };
}

function argsOf(uri: string): ReadonlyArray<readonly [string, string]> {
  const parsed = parseLogUri(uri)._unsafeUnwrap();
  return parsed.scheme === "file" ? [] : parsed.args;
}

describe("splunk: building", () => {
  it("writes the URL and the token", () => {
    expect(buildShimLoggerUri(BIN, splunk())._unsafeUnwrap()).toBe(
      `binary://${BIN}?--container-id=c1&--container-name=web&--log-driver=splunk` +
        "&--splunk-token=00000000-0000-0000-0000-000000000000&--splunk-url=https%3A%2F%2Fsplunk.example.com%3A8088",
    );
  });

  it("takes a token endpoint instead of a token", () => {
    const options: ShimLoggerOptions = {
      containerId: "c1",
      containerName: "web",
      driver: { name: "splunk", url: "https://s:8088", tokenEndpoint: "http://127.0.0.1:51679/token" },
    };
    const uri = buildShimLoggerUri(BIN, options)._unsafeUnwrap();
    expect(argsOf(uri)).toContainEqual(["--splunk-token-endpoint", "http://127.0.0.1:51679/token"]);
    expect(argsOf(uri).some(([key]) => key === "--splunk-token")).toBe(false);
    expect(parseShimLoggerUri(uri)._unsafeUnwrap().options).toEqual(options);
  });

  it.each<[string, Partial<SplunkDriverOptions>, readonly [string, string]]>([
    ["source", { source: "my-app" }, ["--splunk-source", "my-app"]],
    ["sourcetype", { sourcetype: "_json" }, ["--splunk-sourcetype", "_json"]],
    ["index", { index: "main" }, ["--splunk-index", "main"]],
    ["capath", { capath: "/etc/ssl/splunk-ca.pem" }, ["--splunk-capath", "/etc/ssl/splunk-ca.pem"]],
    ["caname", { caname: "SplunkServerDefaultCert" }, ["--splunk-caname", "SplunkServerDefaultCert"]],
    ["insecureSkipVerify", { insecureSkipVerify: true }, ["--splunk-insecureskipverify", "true"]],
    ["format", { format: "raw" }, ["--splunk-format", "raw"]],
    ["verifyConnection", { verifyConnection: false }, ["--splunk-verify-connection", "false"]],
    ["gzip", { gzip: true }, ["--splunk-gzip", "true"]],
    ["gzipLevel -1", { gzipLevel: -1 }, ["--splunk-gzip-level", "-1"]],
    ["gzipLevel 9", { gzipLevel: 9 }, ["--splunk-gzip-level", "9"]],
    ["tag", { tag: "{{.Name}}/{{.ID}}" }, ["--splunk-tag", "{{.Name}}/{{.ID}}"]],
    ["an empty tag (no tag at all)", { tag: "" }, ["--splunk-tag", ""]],
    ["labels", { labels: ["team", "app"] }, ["--labels", "team,app"]],
    ["env", { env: ["STAGE"] }, ["--env", "STAGE"]],
    ["envRegex", { envRegex: "^APP_" }, ["--env-regex", "^APP_"]],
  ])("writes %s", (_, driver, arg) => {
    const uri = buildShimLoggerUri(BIN, splunk(driver))._unsafeUnwrap();
    expect(argsOf(uri)).toContainEqual(arg);
    expect(parseShimLoggerUri(uri)._unsafeUnwrap().options.driver).toEqual(splunk(driver).driver);
  });

  it.each(["https://splunk.example.com:8088", "http://10.0.0.1:8088/", "https://splunk.example.com"])(
    "accepts the URL %s",
    (url) => {
      expect(buildShimLoggerUri(BIN, splunk({ url })).isOk()).toBe(true);
    },
  );

  it.each<[string, Partial<SplunkDriverOptions>, string, string]>([
    ["a missing URL", { url: undefined as unknown as string }, "MissingOption", "splunk-url"],
    ["an empty URL", { url: "" }, "InvalidOption", "splunk-url"],
    ["a URL without scheme", { url: "splunk.example.com:8088" }, "InvalidOption", "splunk-url"],
    ["a tcp URL", { url: "tcp://splunk.example.com:8088" }, "InvalidOption", "splunk-url"],
    ["a URL with a path", { url: "https://s:8088/services/collector/event" }, "InvalidOption", "splunk-url"],
    ["a URL with a query", { url: "https://s:8088/?a=b" }, "InvalidOption", "splunk-url"],
    ["a URL with a fragment", { url: "https://s:8088/#x" }, "InvalidOption", "splunk-url"],
    ["neither token nor endpoint", { token: undefined as unknown as string }, "MissingOption", "splunk-token"],
    ["both token and endpoint", { tokenEndpoint: "http://127.0.0.1/t" }, "ConflictingOptions", "splunk-token-endpoint"],
    ["an empty token", { token: "" }, "InvalidOption", "splunk-token"],
    [
      "a non-http token endpoint",
      { token: undefined as unknown as string, tokenEndpoint: "file:///t" },
      "InvalidOption",
      "splunk-token-endpoint",
    ],
    ["a relative capath", { capath: "certs/ca.pem" }, "NotAbsolutePath", "splunk-capath"],
    ["an empty index", { index: "" }, "InvalidOption", "splunk-index"],
    ["an unknown format", { format: "text" as "raw" }, "InvalidOption", "splunk-format"],
    ["gzipLevel 10", { gzipLevel: 10 }, "InvalidOption", "splunk-gzip-level"],
    ["gzipLevel -2", { gzipLevel: -2 }, "InvalidOption", "splunk-gzip-level"],
    ["a fractional gzipLevel", { gzipLevel: 1.5 }, "InvalidOption", "splunk-gzip-level"],
    ["gzip as a string", { gzip: "true" as unknown as boolean }, "InvalidOption", "splunk-gzip"],
    ["a numeric tag", { tag: 1 as unknown as string }, "InvalidOption", "splunk-tag"],
    ["an empty label list", { labels: [] }, "InvalidOption", "labels"],
    ["a label with a comma", { labels: ["a,b"] }, "InvalidOption", "labels"],
    ["an empty env name", { env: [""] }, "InvalidOption", "env"],
    ["an empty env regex", { envRegex: "" }, "InvalidOption", "env-regex"],
  ])("refuses %s", (_, driver, code, option) => {
    const e = buildShimLoggerUri(BIN, splunk(driver))._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.option).toBe(option);
  });

  it("lists the formats", () => {
    expect(buildShimLoggerUri(BIN, splunk({ format: "x" as "raw" }))._unsafeUnwrapErr().allowed).toEqual([
      "inline",
      "json",
      "raw",
    ]);
  });
});

describe("splunk: parsing", () => {
  const required = "--log-driver=splunk&--container-id=c1&--container-name=web&--splunk-url=https%3A%2F%2Fs%3A8088";

  it("keeps an empty --splunk-tag (it removes the tag) but drops other empty values", () => {
    const p = parseShimLoggerUri(`binary:///l?${required}&--splunk-token=t&--splunk-tag=&--splunk-index=&--labels=`);
    expect(p._unsafeUnwrap().options.driver).toEqual({ name: "splunk", url: "https://s:8088", token: "t", tag: "" });
  });

  it("requires the URL and a token or token endpoint", () => {
    const noUrl = parseShimLoggerUri(
      "binary:///l?--log-driver=splunk&--container-id=c&--container-name=n&--splunk-token=t",
    );
    expect(noUrl._unsafeUnwrapErr()).toMatchObject({ code: "MissingOption", option: "splunk-url" });
    const noToken = parseShimLoggerUri(`binary:///l?${required}`)._unsafeUnwrapErr();
    expect(noToken).toMatchObject({ code: "MissingOption", option: "splunk-token" });
    expect(noToken.message).toContain("SPLUNK_TOKEN");
  });

  it("normalises a '+'-signed gzip level and Go boolean spellings", () => {
    const p = parseShimLoggerUri(`binary:///l?${required}&--splunk-token=t&--splunk-gzip=1&--splunk-gzip-level=%2B5`);
    const options = p._unsafeUnwrap().options;
    expect(options.driver).toMatchObject({ gzip: true, gzipLevel: 5 });
    const rebuilt = buildShimLoggerUri("/l", options)._unsafeUnwrap();
    expect(argsOf(rebuilt)).toContainEqual(["--splunk-gzip-level", "5"]);
    expect(argsOf(rebuilt)).toContainEqual(["--splunk-gzip", "true"]);
  });

  it.each([
    ["--splunk-gzip-level=fast", "splunk-gzip-level"],
    ["--splunk-gzip-level=12", "splunk-gzip-level"],
    ["--labels=a%2C%2Cb", "labels"],
    ["--env=%2Ca", "env"],
    ["--splunk-verify-connection=nope", "splunk-verify-connection"],
  ])("refuses %s", (arg, option) => {
    const e = parseShimLoggerUri(`binary:///l?${required}&--splunk-token=t&${arg}`)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidOption");
    expect(e.option).toBe(option);
  });
});
