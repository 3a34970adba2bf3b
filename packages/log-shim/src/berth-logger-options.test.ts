import { describe, expect, it } from "vitest";
import {
  type BerthLoggerOptions,
  buildBerthLoggerUri,
  parseBerthLoggerArgv,
  parseBerthLoggerUri,
  resolveBerthLoggerLimits,
} from "./berth-logger-options.js";
import { parseLogUri } from "./uri.js";

const BIN = "/opt/berth/berth-logger.js";

function code(r: { isErr(): boolean; error?: unknown } & object): string | undefined {
  return r.isErr() ? (r as unknown as { error: { code: string } }).error.code : undefined;
}

describe("buildBerthLoggerUri / parseBerthLoggerUri", () => {
  const cases: BerthLoggerOptions[] = [
    { driver: { name: "json-file", logPath: "/var/log/c 1.log" } },
    {
      driver: { name: "json-file", logPath: "/var/log/c.log", maxSize: "10m", maxFile: 3 },
      mode: "non-blocking",
      maxBufferSize: "64k",
      cleanupTime: "2s",
      debugFile: "/tmp/d.log",
      server: "/run/berth/logger 1.sock",
    },
    { driver: { name: "fluentd" } },
    {
      driver: { name: "fluentd", address: "unix:///run/fluent.sock", tag: "web", writeTimeout: "250ms" },
      containerName: "web",
    },
  ];
  it.each(cases)("round-trips %j", (o) => {
    const uri = buildBerthLoggerUri(BIN, o)._unsafeUnwrap();
    expect(uri.startsWith(`binary://${BIN}?`)).toBe(true);
    const back = parseBerthLoggerUri(uri)._unsafeUnwrap();
    expect(back.binaryPath).toBe(BIN);
    expect(back.options).toEqual(o);
    expect(buildBerthLoggerUri(BIN, back.options)._unsafeUnwrap()).toBe(uri);
  });

  it("writes every flag as a separate key and value (no booleans to split wrongly)", () => {
    const uri = buildBerthLoggerUri(BIN, { driver: { name: "json-file", logPath: "/l", maxFile: 2, maxSize: "1k" } });
    const parsed = parseLogUri(uri._unsafeUnwrap())._unsafeUnwrap();
    expect(parsed.scheme === "binary" && parsed.args).toEqual([
      ["--driver", "json-file"],
      ["--log-path", "/l"],
      ["--max-file", "2"],
      ["--max-size", "1k"],
    ]);
  });

  it("refuses what the logger could not run with", () => {
    expect(code(buildBerthLoggerUri("rel/bin", { driver: { name: "fluentd" } }))).toBe("NotAbsolutePath");
    expect(code(buildBerthLoggerUri(BIN, { driver: { name: "json-file", logPath: "x.log" } }))).toBe("NotAbsolutePath");
    expect(code(buildBerthLoggerUri(BIN, { driver: { name: "awslogs" } as never }))).toBe("UnknownDriver");
    expect(code(buildBerthLoggerUri(BIN, { driver: { name: "json-file", logPath: "/l" }, maxBufferSize: "1m" }))).toBe(
      "ConflictingOptions",
    );
    expect(code(buildBerthLoggerUri(BIN, { driver: { name: "fluentd" }, cleanupTime: "13s" }))).toBe("InvalidOption");
    expect(code(buildBerthLoggerUri(BIN, { driver: { name: "fluentd", address: "tls://h:1" } }))).toBe("InvalidOption");
    expect(code(buildBerthLoggerUri(BIN, { driver: { name: "fluentd", writeTimeout: "0" } }))).toBe("InvalidOption");
    expect(code(buildBerthLoggerUri(BIN, { driver: { name: "json-file", logPath: "/l", maxFile: 0 } }))).toBe(
      "InvalidOption",
    );
    expect(
      code(buildBerthLoggerUri(BIN, { driver: { name: "json-file", logPath: "/l" }, mode: "fast" as never })),
    ).toBe("InvalidOption");
    expect(code(buildBerthLoggerUri(BIN, { driver: { name: "json-file", logPath: "/l" }, server: "l.sock" }))).toBe(
      "NotAbsolutePath",
    );
  });

  it("refuses foreign and misplaced flags when parsing", () => {
    expect(code(parseBerthLoggerUri(`binary://${BIN}?--driver=json-file`))).toBe("MissingOption");
    expect(code(parseBerthLoggerUri(`binary://${BIN}?--driver=fluentd&--log-path=%2Fx`))).toBe("ConflictingOptions");
    expect(code(parseBerthLoggerUri(`binary://${BIN}?--driver=fluentd&--bogus=1`))).toBe("InvalidOption");
    expect(code(parseBerthLoggerUri(`binary-v2://${BIN}?--driver=fluentd`))).toBe("InvalidUri");
    expect(code(parseBerthLoggerUri("file:///x.log"))).toBe("InvalidUri");
  });
});

describe("parseBerthLoggerArgv", () => {
  it("reads containerd's split form in any order, skipping empty elements", () => {
    const o = parseBerthLoggerArgv(["--log-path", "/x.log", "--max-file", "2", "--driver", "json-file", ""]);
    expect(o._unsafeUnwrap()).toEqual({ driver: { name: "json-file", logPath: "/x.log", maxFile: 2 } });
  });
  it("reads the joined form, and a joined key followed by containerd's empty value", () => {
    const o = parseBerthLoggerArgv(["--driver=fluentd", "", "--fluentd-tag=a=b", "--mode", "non-blocking"]);
    expect(o._unsafeUnwrap()).toEqual({ driver: { name: "fluentd", tag: "a=b" }, mode: "non-blocking" });
  });
  it("takes the next element as the value even when it starts with dashes", () => {
    const o = parseBerthLoggerArgv(["--driver", "fluentd", "--fluentd-tag", "--odd"]);
    expect(o._unsafeUnwrap()).toEqual({ driver: { name: "fluentd", tag: "--odd" } });
  });
  it("refuses stray positionals, missing values and repeats", () => {
    expect(code(parseBerthLoggerArgv(["--driver", "fluentd", "stray", "x"]))).toBe("InvalidOption");
    expect(code(parseBerthLoggerArgv(["--driver"]))).toBe("MissingOption");
    expect(code(parseBerthLoggerArgv(["--driver", "fluentd", "--driver=fluentd"]))).toBe("InvalidOption");
  });
});

describe("resolveBerthLoggerLimits", () => {
  it("applies defaults and units", () => {
    expect(resolveBerthLoggerLimits({ driver: { name: "fluentd" } })).toEqual({
      maxBufferBytes: 1024 * 1024,
      cleanupMs: 5000,
      maxSizeBytes: undefined,
      writeTimeoutMs: 5000,
    });
    expect(
      resolveBerthLoggerLimits({
        driver: { name: "json-file", logPath: "/l", maxSize: "10m" },
        mode: "non-blocking",
        maxBufferSize: "2k",
        cleanupTime: "1500ms",
      }),
    ).toEqual({ maxBufferBytes: 2048, cleanupMs: 1500, maxSizeBytes: 10_000_000, writeTimeoutMs: 0 });
  });
});

describe("berth-logger URIs, property: build -> containerd's argv -> parse is the identity", () => {
  // A small seeded generator (mulberry32), so a failure reproduces.
  let seed = 0x5eed;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const ALPHABET = ["a", "Z", "0", " ", "&", "=", "?", "%", "+", "#", ";", "/", "é", "€", "😀", "-", "--", "\t"];
  const text = (min = 1) => Array.from({ length: min + Math.floor(rand() * 8) }, () => pick(ALPHABET)).join("");
  const maybe = <T>(v: () => T): T | undefined => (rand() < 0.5 ? v() : undefined);

  function randomOptions(): BerthLoggerOptions {
    const nonBlocking = rand() < 0.5;
    const driver: BerthLoggerOptions["driver"] =
      rand() < 0.5
        ? {
            name: "json-file",
            logPath: `/${text()}`,
            ...(rand() < 0.5 ? { maxSize: pick(["1", "10k", "2.5m", "1g"]) } : {}),
            ...(rand() < 0.5 ? { maxFile: 1 + Math.floor(rand() * 9) } : {}),
          }
        : {
            name: "fluentd",
            ...(rand() < 0.5 ? { address: pick(["127.0.0.1:24224", "tcp://h:1", "unix:///run/a-b.sock", "h"]) } : {}),
            ...(rand() < 0.5 ? { tag: text() } : {}),
            ...(rand() < 0.5 ? { writeTimeout: pick(["1ms", "5s", "1m30s"]) } : {}),
          };
    const o: Record<string, unknown> = { driver };
    if (nonBlocking) o.mode = "non-blocking";
    else if (rand() < 0.3) o.mode = "blocking";
    if (nonBlocking && rand() < 0.5) o.maxBufferSize = pick(["1", "64k", "1m"]);
    const name = maybe(() => text());
    if (name !== undefined) o.containerName = name;
    const cleanup = maybe(() => pick(["0", "1s", "12s", "500ms"]));
    if (cleanup !== undefined) o.cleanupTime = cleanup;
    if (rand() < 0.3) o.debugFile = `/${text()}`;
    if (rand() < 0.3) o.server = `/${text()}`;
    return o as unknown as BerthLoggerOptions;
  }

  it("holds for 500 random configurations", () => {
    for (let i = 0; i < 500; i++) {
      const o = randomOptions();
      const uri = buildBerthLoggerUri(BIN, o);
      expect(uri.isOk(), JSON.stringify(o)).toBe(true);
      const parsed = parseBerthLoggerUri(uri._unsafeUnwrap())._unsafeUnwrap();
      expect(parsed.options).toEqual(o);
      expect(buildBerthLoggerUri(BIN, parsed.options)._unsafeUnwrap()).toBe(uri._unsafeUnwrap());
      // containerd's shim: each query key, then its value, as argv elements, in map (random) order.
      const u = parseLogUri(uri._unsafeUnwrap())._unsafeUnwrap();
      const args = u.scheme === "file" ? [] : [...u.args].sort(() => rand() - 0.5);
      expect(parseBerthLoggerArgv(args.flat())._unsafeUnwrap()).toEqual(o);
    }
  });
});
