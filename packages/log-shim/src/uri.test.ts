import { describe, expect, it } from "vitest";
import { formatLogUri, type LogUri, type LogUriArg, parseLogUri } from "./uri.js";

const BIN = "/usr/local/bin/shim-loggers-for-containerd";

describe("formatLogUri", () => {
  it.each<[string, LogUri, string]>([
    ["a file URI", { scheme: "file", path: "/var/log/c1.log" }, "file:///var/log/c1.log"],
    ["a binary URI without arguments", { scheme: "binary", path: BIN, args: [] }, `binary://${BIN}`],
    [
      "arguments sorted by key",
      {
        scheme: "binary",
        path: BIN,
        args: [
          ["--log-driver", "awslogs"],
          ["--container-id", "c1"],
          ["--awslogs-group", "g"],
        ],
      },
      `binary://${BIN}?--awslogs-group=g&--container-id=c1&--log-driver=awslogs`,
    ],
    ["binary-v2", { scheme: "binary-v2", path: "/bin/l", args: [["--a", "1"]] }, "binary-v2:///bin/l?--a=1"],
    [
      "query values escaped like Go's url.QueryEscape",
      { scheme: "binary", path: "/l", args: [["--v", "a b&c=d;e#f%g+h/é~_.-"]] },
      "binary:///l?--v=a+b%26c%3Dd%3Be%23f%25g%2Bh%2F%C3%A9~_.-",
    ],
    [
      "keys escaped too (a pflag boolean with its value inside the key)",
      { scheme: "binary", path: "/l", args: [["--fluentd-async=false", ""]] },
      "binary:///l?--fluentd-async%3Dfalse=",
    ],
    [
      "paths escaped like Go's URL.EscapedPath",
      { scheme: "binary", path: "/opt/my logger/x?#%é+$&,:;=@!*'()", args: [] },
      "binary:///opt/my%20logger/x%3F%23%25%C3%A9+$&,:;=@%21%2A%27%28%29",
    ],
    ["an empty value", { scheme: "binary", path: "/l", args: [["--tag", ""]] }, "binary:///l?--tag="],
    ["control characters", { scheme: "binary", path: "/l", args: [["--v", "a\tb\n"]] }, "binary:///l?--v=a%09b%0A"],
  ])("formats %s", (_, uri, expected) => {
    expect(formatLogUri(uri)._unsafeUnwrap()).toBe(expected);
  });

  it("sorts keys by UTF-8 bytes, as Go does (not by UTF-16 code units)", () => {
    // U+FF61 is EF BD A1 in UTF-8 and U+1F600 is F0 9F 98 80, so Go puts U+FF61 first; UTF-16 order is reversed.
    const uri = formatLogUri({
      scheme: "binary",
      path: "/l",
      args: [
        ["😀", "1"],
        ["｡", "2"],
      ],
    })._unsafeUnwrap();
    expect(uri).toBe("binary:///l?%EF%BD%A1=2&%F0%9F%98%80=1");
  });

  it.each<[string, LogUri, string, string]>([
    ["a relative path", { scheme: "binary", path: "bin/logger", args: [] }, "NotAbsolutePath", "not absolute"],
    ["an empty path", { scheme: "file", path: "" }, "NotAbsolutePath", "not absolute"],
    [
      "a repeated key",
      {
        scheme: "binary",
        path: "/l",
        args: [
          ["--a", "1"],
          ["--a", "2"],
        ],
      },
      "InvalidUri",
      "twice",
    ],
    ["an empty key", { scheme: "binary", path: "/l", args: [["", "v"]] }, "InvalidUri", "empty key"],
    ["a NUL in a value", { scheme: "binary", path: "/l", args: [["--a", "x\0y"]] }, "InvalidUri", "NUL"],
    ["a NUL in the path", { scheme: "file", path: "/var/\0log" }, "InvalidUri", "NUL"],
    ["a lone surrogate", { scheme: "binary", path: "/l", args: [["--a", "\ud800"]] }, "InvalidUri", "surrogate"],
    ["an unknown scheme", { scheme: "fifo", path: "/l" } as unknown as LogUri, "InvalidUri", "unknown log URI scheme"],
  ])("refuses %s", (_, uri, code, text) => {
    const e = formatLogUri(uri)._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.message).toContain(text);
  });

  it("lists the allowed schemes for an unknown one", () => {
    const e = formatLogUri({ scheme: "npipe", path: "/l" } as unknown as LogUri)._unsafeUnwrapErr();
    expect(e.allowed).toEqual(["binary", "binary-v2", "file"]);
  });
});

describe("parseLogUri", () => {
  it.each<[string, LogUri]>([
    ["file:///var/log/c1.log", { scheme: "file", path: "/var/log/c1.log" }],
    [`binary://${BIN}`, { scheme: "binary", path: BIN, args: [] }],
    [`binary://${BIN}?`, { scheme: "binary", path: BIN, args: [] }],
    [
      "binary:///l?--log-driver=awslogs&--arg1=value1",
      {
        scheme: "binary",
        path: "/l",
        args: [
          ["--log-driver", "awslogs"],
          ["--arg1", "value1"],
        ],
      },
    ],
    ["BINARY:/usr/bin/l?--a=b", { scheme: "binary", path: "/usr/bin/l", args: [["--a", "b"]] }],
    ["binary-v2:///l", { scheme: "binary-v2", path: "/l", args: [] }],
    ["binary:///my+logger?--v=a+b", { scheme: "binary", path: "/my+logger", args: [["--v", "a b"]] }],
    ["binary:///opt/my%20logger/%C3%A9", { scheme: "binary", path: "/opt/my logger/é", args: [] }],
    [
      "binary:///l?--a=1&&--b=2&",
      {
        scheme: "binary",
        path: "/l",
        args: [
          ["--a", "1"],
          ["--b", "2"],
        ],
      },
    ],
    ["binary:///l?--verbose", { scheme: "binary", path: "/l", args: [["--verbose", ""]] }],
    ["binary:///l?--a=b=c", { scheme: "binary", path: "/l", args: [["--a", "b=c"]] }],
    ["binary:///l?--a%3Dtrue=", { scheme: "binary", path: "/l", args: [["--a=true", ""]] }],
    ["binary:///l?--v=%e2%82%ac", { scheme: "binary", path: "/l", args: [["--v", "€"]] }],
    ["binary:///l?--v=€", { scheme: "binary", path: "/l", args: [["--v", "€"]] }],
    ["binary:////double/slash", { scheme: "binary", path: "//double/slash", args: [] }],
  ])("parses %s", (input, expected) => {
    expect(parseLogUri(input)._unsafeUnwrap()).toEqual(expected);
  });

  it.each([
    ["/usr/bin/logger", "InvalidUri", "no scheme"],
    ["fifo:///run/x", "InvalidUri", "unsupported scheme"],
    ["npipe:///x", "InvalidUri", "unsupported scheme"],
    ["binary://host/usr/bin/l", "InvalidUri", "host"],
    ["binary://", "NotAbsolutePath", "not absolute"],
    ["binary:usr/bin/l", "NotAbsolutePath", "not absolute"],
    ["binary:///l#frag", "InvalidUri", "fragment"],
    ["binary:///l?--a=%zz", "InvalidUri", "percent-escape"],
    ["binary:///l?--a=%4", "InvalidUri", "percent-escape"],
    ["binary:///l%2", "InvalidUri", "percent-escape"],
    ["binary:///l%FF", "InvalidUri", "UTF-8"],
    ["binary:///l?--a=%FF", "InvalidUri", "UTF-8"],
    ["binary:///l?--a=1;--b=2", "InvalidUri", "';'"],
    ["binary:///l?--a=1&--a=2", "InvalidUri", "twice"],
    ["binary:///l?=v", "InvalidUri", "empty key"],
    ["binary:///l?--a=x%00y", "InvalidUri", "NUL"],
    ["binary:///l%00", "InvalidUri", "NUL"],
    ["binary:///l?--a=%ED%A0%80", "InvalidUri", "UTF-8"],
    ["binary:///l?--a=b\n", "InvalidUri", "control character"],
    ["binary:///l?--a=b\u007f", "InvalidUri", "control character"],
    ["file:///var/log/x?--a=b", "InvalidUri", "query"],
    ["", "InvalidUri", "no scheme"],
    [":///x", "InvalidUri", "no scheme"],
  ])("refuses %j", (input, code, text) => {
    const e = parseLogUri(input)._unsafeUnwrapErr();
    expect(e.code).toBe(code);
    expect(e.message).toContain(text);
  });

  it("names the allowed schemes for an unsupported one", () => {
    expect(parseLogUri("http://x/y")._unsafeUnwrapErr().allowed).toEqual(["binary", "binary-v2", "file"]);
  });
});

// A small seeded PRNG (mulberry32) so the property test is reproducible.
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

const ALPHABET = [..."abcXYZ019-_.~ &=;#%+?/:@!*'()[]{}\"\\\t\n,éü€😀｡"];

function randomText(next: () => number, min: number, max: number): string {
  const length = min + Math.floor(next() * (max - min + 1));
  let s = "";
  for (let i = 0; i < length; i++) s += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return s;
}

describe("formatLogUri / parseLogUri round trip (seeded property test)", () => {
  it("gives back every key, value and path, and formats the parsed URI identically", () => {
    const next = prng(0x5eed);
    for (let run = 0; run < 500; run++) {
      const args: LogUriArg[] = [];
      const keys = new Set<string>();
      const count = Math.floor(next() * 6);
      while (args.length < count) {
        const key = `--${randomText(next, 1, 8)}`;
        if (keys.has(key)) continue;
        keys.add(key);
        args.push([key, randomText(next, 0, 12)]);
      }
      const uri: LogUri = { scheme: next() < 0.5 ? "binary" : "binary-v2", path: `/${randomText(next, 0, 10)}`, args };
      const formatted = formatLogUri(uri)._unsafeUnwrap();
      const parsed = parseLogUri(formatted)._unsafeUnwrap();
      expect(parsed.scheme).toBe(uri.scheme);
      expect(parsed.path).toBe(uri.path);
      expect(parsed.scheme === "file" ? [] : [...parsed.args].sort()).toEqual([...args].sort());
      expect(formatLogUri(parsed)._unsafeUnwrap()).toBe(formatted);
    }
  });
});

describe("error messages", () => {
  const SECRET = "s3cr3t-token";

  it.each([
    `binary:///l?--splunk-token=${SECRET}#x`,
    `binary:///l?--splunk-token=${SECRET}&--a=%zz`,
    `binary:///l?--splunk-token=${SECRET};x`,
    `binary:///l?--splunk-token=${SECRET}%00`,
    `binary:///l?--splunk-token%3D${SECRET}=&--splunk-token%3D${SECRET}=`,
    `fifo:///l?--splunk-token=${SECRET}`,
    `binary:///l?--splunk-token=${SECRET}\n`,
  ])("do not quote values or whole URIs (%#)", (uri) => {
    const e = parseLogUri(uri)._unsafeUnwrapErr();
    expect(e.message).not.toContain(SECRET);
  });

  it("do not quote values when formatting", () => {
    const e = formatLogUri({ scheme: "binary", path: "/l", args: [["--splunk-token", `${SECRET}\0`]] });
    expect(e._unsafeUnwrapErr().message).not.toContain(SECRET);
    expect(e._unsafeUnwrapErr().message).toContain('"--splunk-token"');
  });
});
