import { describe, expect, it } from "vitest";
import { DEFAULT_NETNS_DIR, NETNS_NAME_MAX, netnsPath, validateNetnsName } from "./name.js";

describe("validateNetnsName", () => {
  it.each([
    ["task-1"],
    ["berth-t-3f9a1c00"],
    ["a"],
    ["..."],
    [".hidden"],
    ["with space"],
    ["ünïcode"],
    ["x".repeat(NETNS_NAME_MAX)],
  ])("accepts %j", (name) => {
    expect(validateNetnsName(name)._unsafeUnwrap()).toBe(name);
  });

  it.each([
    ["", "empty"],
    ["a/b", "'/'"],
    ["/abs", "'/'"],
    [".", "'.' and '..'"],
    ["..", "'.' and '..'"],
    ["nul\0byte", "NUL"],
    ["x".repeat(NETNS_NAME_MAX + 1), "256 bytes"],
    ["é".repeat(128), "256 bytes"],
  ])("rejects %j (%s)", (name, why) => {
    const e = validateNetnsName(name)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidName");
    expect(e.message).toContain(why);
    expect(e.message).toContain("ip netns add");
  });
});

describe("netnsPath", () => {
  it("joins the name to /run/netns or the given directory", () => {
    expect(DEFAULT_NETNS_DIR).toBe("/run/netns");
    expect(netnsPath("task-1")._unsafeUnwrap()).toBe("/run/netns/task-1");
    expect(netnsPath("task-1", "/tmp/ns/")._unsafeUnwrap()).toBe("/tmp/ns/task-1");
  });

  it("refuses names that would escape the directory", () => {
    expect(netnsPath("..")._unsafeUnwrapErr().code).toBe("InvalidName");
    expect(netnsPath("../etc/passwd")._unsafeUnwrapErr().code).toBe("InvalidName");
  });
});
