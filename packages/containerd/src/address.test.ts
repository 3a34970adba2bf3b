import { describe, expect, it } from "vitest";
import { parseAddress } from "./address.js";
import { validateIdentifier } from "./identifiers.js";

describe("parseAddress", () => {
  it.each([
    ["/run/containerd/containerd.sock", "unix:///run/containerd/containerd.sock"],
    ["unix:///tmp/c.sock", "unix:///tmp/c.sock"],
    ["tcp://127.0.0.1:10010", "127.0.0.1:10010"],
    ["tcp://[::1]:10010", "[::1]:10010"],
  ])("accepts %s", (input, target) => {
    expect(parseAddress(input)._unsafeUnwrap().target).toBe(target);
  });

  it.each([
    ["relative.sock", "unknown scheme"],
    ["unix://relative.sock", "must be absolute"],
    ["tcp://host", "expected tcp://host:port"],
    ["tcp://host:99999", "expected tcp://host:port"],
    ["http://x:1", "unknown scheme"],
  ])("rejects %s", (input, why) => {
    const e = parseAddress(input)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidArgument");
    expect(e.message).toContain(why);
    expect(e.message).toContain("unix:///path/to/containerd.sock");
  });
});

describe("validateIdentifier", () => {
  it.each(["default", "k8s.io", "berth-task-1", "a_b", "A1"])("accepts %s", (id) => {
    expect(validateIdentifier("namespace", id).isOk()).toBe(true);
  });
  it.each(["", "-a", "a-", "a..b", "a b", "ü", "x".repeat(77)])("rejects %j", (id) => {
    const e = validateIdentifier("namespace", id)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidArgument");
    expect(e.message).toMatch(/namespace/);
  });
});
