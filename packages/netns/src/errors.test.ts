import { describe, expect, it } from "vitest";
import { errnoOf, NetnsError, netnsErrorFromErrno } from "./errors.js";

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something failed`), { code });
}

describe("NetnsError", () => {
  it("is recognised by its tag, also for a copy from another package instance", () => {
    const e = new NetnsError("Busy", "busy", { path: "/run/netns/a" });
    expect(NetnsError.is(e)).toBe(true);
    expect(NetnsError.is({ _tag: "NetnsError" })).toBe(true);
    expect(NetnsError.is(new Error("x"))).toBe(false);
    expect(NetnsError.is(null)).toBe(false);
    expect(e.name).toBe("NetnsError");
    expect(e.retryable).toBe(true);
    expect(new NetnsError("NotFound", "x").retryable).toBe(false);
  });

  it("keeps its cause and typed fields", () => {
    const cause = new Error("root");
    const e = new NetnsError("ToolMissing", "no ip", { package: "iproute2", cause });
    expect(e.cause).toBe(cause);
    expect(e.package).toBe("iproute2");
    expect(e.capability).toBeUndefined();
    expect(e.path).toBeUndefined();
  });
});

describe("netnsErrorFromErrno", () => {
  it.each([
    ["ENOENT", "NotFound"],
    ["ENOTDIR", "NotFound"],
    ["EACCES", "PermissionDenied"],
    ["EPERM", "PermissionDenied"],
    ["EBUSY", "Busy"],
    ["EEXIST", "AlreadyExists"],
    ["EIO", "Failed"],
  ] as const)("maps %s to %s with the path and errno", (code, expected) => {
    const e = netnsErrorFromErrno(errno(code), { path: "/run/netns/x", action: "inspect" });
    expect(e.code).toBe(expected);
    expect(e.path).toBe("/run/netns/x");
    expect(e.errno).toBe(code);
    expect(e.message).toContain("/run/netns/x");
    expect(e.message).toContain("inspect");
  });

  it("names the capability to grant, CAP_SYS_ADMIN unless told otherwise", () => {
    const admin = netnsErrorFromErrno(errno("EPERM"), { path: "/run/netns/x", action: "delete" });
    expect(admin.capability).toBe("CAP_SYS_ADMIN");
    expect(admin.message).toContain("run as root or grant CAP_SYS_ADMIN");
    const ptrace = netnsErrorFromErrno(errno("EACCES"), {
      path: "/proc/1/ns/net",
      action: "read",
      capability: "CAP_SYS_PTRACE",
    });
    expect(ptrace.capability).toBe("CAP_SYS_PTRACE");
  });

  it("says EBUSY is worth a retry and maps an AbortError to Aborted", () => {
    expect(netnsErrorFromErrno(errno("EBUSY"), { path: "/p", action: "delete" }).message).toContain("retry");
    const abort = Object.assign(new Error("The operation was aborted"), { name: "AbortError", code: "ABORT_ERR" });
    const e = netnsErrorFromErrno(abort, { path: "/usr/bin/nsenter", action: "run" });
    expect(e.code).toBe("Aborted");
    expect(e.errno).toBeUndefined();
  });

  it("maps non-errno values to Failed", () => {
    const e = netnsErrorFromErrno("weird", { path: "/p", action: "inspect" });
    expect(e.code).toBe("Failed");
    expect(e.message).toContain("weird");
    expect(errnoOf({ code: "ERR_INVALID_ARG_TYPE" })).toBeUndefined();
    expect(errnoOf(undefined)).toBeUndefined();
  });
});
