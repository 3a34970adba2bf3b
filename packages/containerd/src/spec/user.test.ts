import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ContainerdError } from "../errors.js";
import {
  parseGroup,
  parsePasswd,
  parseUserString,
  readRootfsFile,
  resolveGroups,
  resolveUser,
  rootfsFromMounts,
  supplementaryGroupsOf,
} from "./user.js";

// Close to busybox's files, plus the odd lines real images contain.
const PASSWD = [
  "root:x:0:0:root:/root:/bin/sh",
  "daemon:x:1:1:daemon:/usr/sbin:/bin/false",
  "",
  "# a comment",
  "   www-data:x:33:33:www-data:/var/www:/bin/false   ",
  "app:x:1000:1000::/home/app:/bin/sh\r",
  "broken:x:notanumber:0::/:/bin/sh",
  "toolarge:x:4294967296:0::/:/bin/sh",
  "short:x:1001:1001",
  "+nisuser::::::",
  "nobody:x:65534:65534:nobody:/home:/bin/false",
].join("\n");

const GROUP = [
  "root:x:0:",
  "daemon:x:1:app",
  "www-data:x:33:app, nobody ,",
  "app:x:1000:app",
  "wheel:x:10:root,app",
  "bad:x:-1:app",
  "nogroup:x:65534:",
].join("\n");

describe("parsePasswd", () => {
  it("reads well-formed entries and skips blank, comment, NIS and malformed lines", () => {
    const entries = parsePasswd(PASSWD);
    expect(entries.map((e) => e.name)).toEqual(["root", "daemon", "www-data", "app", "short", "nobody"]);
    expect(entries.find((e) => e.name === "app")).toEqual({
      name: "app",
      uid: 1000,
      gid: 1000,
      home: "/home/app",
      shell: "/bin/sh",
    });
    expect(entries.find((e) => e.name === "short")).toEqual({
      name: "short",
      uid: 1001,
      gid: 1001,
      home: "",
      shell: "",
    });
  });

  it("never reads a bad id as 0 (root)", () => {
    expect(parsePasswd("evil:x::0:::\nevil2:x: :0:::").filter((e) => e.uid === 0)).toEqual([]);
  });

  it("handles an empty file", () => {
    expect(parsePasswd("")).toEqual([]);
  });
});

describe("parseGroup", () => {
  it("reads members, trimming spaces and dropping empty names", () => {
    const groups = parseGroup(GROUP);
    expect(groups.find((g) => g.name === "www-data")?.members).toEqual(["app", "nobody"]);
    expect(groups.find((g) => g.name === "root")?.members).toEqual([]);
    expect(groups.some((g) => g.name === "bad")).toBe(false);
  });
});

describe("parseUserString", () => {
  it("accepts the OCI image spec forms", () => {
    expect(parseUserString("app")._unsafeUnwrap()).toEqual({ user: { name: "app" }, group: undefined });
    expect(parseUserString("1000")._unsafeUnwrap()).toEqual({ user: { id: 1000 }, group: undefined });
    expect(parseUserString("app:wheel")._unsafeUnwrap()).toEqual({ user: { name: "app" }, group: { name: "wheel" } });
    expect(parseUserString("1:2")._unsafeUnwrap()).toEqual({ user: { id: 1 }, group: { id: 2 } });
  });

  it.each(["", ":", "a:", ":b", "a:b:c", "-1", "2147483648", "1:4294967296"])("rejects %j", (s) => {
    const e = parseUserString(s)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidArgument");
    expect(e.message).toContain("uid:gid");
  });
});

describe("resolveUser against a root filesystem", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "berth-spec-user-"));
    mkdirSync(join(root, "etc"));
    writeFileSync(join(root, "etc/passwd"), PASSWD);
    writeFileSync(join(root, "etc/group"), GROUP);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("resolves a name to uid, gid and supplementary groups (primary first)", async () => {
    const u = (await resolveUser(root, "app"))._unsafeUnwrap();
    // app is listed in daemon, www-data and wheel; the group named "app" is its own, not supplementary.
    expect(u).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 1, 33, 10] });
  });

  it("resolves a lone uid through /etc/passwd for the gid", async () => {
    // nobody is also listed in www-data (33).
    expect((await resolveUser(root, "65534"))._unsafeUnwrap()).toEqual({
      uid: 65534,
      gid: 65534,
      additionalGids: [65534, 33],
    });
  });

  it("gives gid 0 for a uid the image does not list (containerd's rule)", async () => {
    expect((await resolveUser(root, "4242"))._unsafeUnwrap()).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });
  });

  it("resolves user:group names and mixed forms", async () => {
    expect((await resolveUser(root, "app:wheel"))._unsafeUnwrap()).toEqual({
      uid: 1000,
      gid: 10,
      additionalGids: [1, 33, 10],
    });
    expect((await resolveUser(root, "1000:nogroup"))._unsafeUnwrap().gid).toBe(65534);
    expect((await resolveUser(root, "nobody:7"))._unsafeUnwrap()).toMatchObject({ uid: 65534, gid: 7 });
  });

  it("fails with a typed NotFound for a missing user or group", async () => {
    const e = (await resolveUser(root, "ghost"))._unsafeUnwrapErr();
    expect(ContainerdError.is(e)).toBe(true);
    expect(e.code).toBe("NotFound");
    expect(e.resource).toBe('user "ghost"');
    expect(e.message).toContain("/etc/passwd");
    const g = (await resolveUser(root, "app:ghosts"))._unsafeUnwrapErr();
    expect(g.code).toBe("NotFound");
    expect(g.resource).toBe('group "ghosts"');
  });

  it("treats a missing /etc/passwd as no users: names fail, uids get gid 0", async () => {
    rmSync(join(root, "etc/passwd"));
    expect((await resolveUser(root, "app"))._unsafeUnwrapErr().code).toBe("NotFound");
    expect((await resolveUser(root, "1000"))._unsafeUnwrap()).toMatchObject({ uid: 1000, gid: 0 });
  });

  it("follows an absolute /etc/passwd symlink inside the root, never to the host's file", async () => {
    mkdirSync(join(root, "usr/lib"), { recursive: true });
    writeFileSync(join(root, "usr/lib/passwd"), "only:x:777:778::/:/bin/sh\n");
    rmSync(join(root, "etc/passwd"));
    symlinkSync("/usr/lib/passwd", join(root, "etc/passwd"));
    expect((await resolveUser(root, "only"))._unsafeUnwrap()).toMatchObject({ uid: 777, gid: 778 });
    // A link that climbs out with .. stays in the root too: the host's /etc/passwd (with root) is not read.
    rmSync(join(root, "etc/passwd"));
    symlinkSync("../../../../../../etc/shadow-does-not-exist", join(root, "etc/passwd"));
    expect((await resolveUser(root, "root"))._unsafeUnwrapErr().code).toBe("NotFound");
  });

  it("reports a symlink loop as an I/O error, not a crash", async () => {
    rmSync(join(root, "etc/passwd"));
    symlinkSync("/etc/passwd", join(root, "etc/passwd"));
    const e = (await resolveUser(root, "app"))._unsafeUnwrapErr();
    expect(e.code).toBe("Unknown");
    expect(e.message).toContain("too many symlinks");
  });

  it("refuses a /etc/passwd that is not a regular file", async () => {
    rmSync(join(root, "etc/passwd"));
    mkdirSync(join(root, "etc/passwd"));
    expect((await readRootfsFile(root, "etc/passwd"))._unsafeUnwrapErr().message).toContain("not a regular file");
  });

  it("needs a root filesystem for names but not for numeric uid:gid", async () => {
    expect((await resolveUser(undefined, "10:20"))._unsafeUnwrap()).toEqual({ uid: 10, gid: 20, additionalGids: [20] });
    const e = (await resolveUser(undefined, "app"))._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidArgument");
    expect(e.message).toContain("rootfs");
    expect((await resolveUser("relative/path", "1000"))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("resolves extra groups by name or number", async () => {
    expect((await resolveGroups(root, ["wheel", "5", "nogroup"]))._unsafeUnwrap()).toEqual([10, 5, 65534]);
    expect((await resolveGroups(undefined, ["5", "6"]))._unsafeUnwrap()).toEqual([5, 6]);
    expect((await resolveGroups(root, ["nope"]))._unsafeUnwrapErr().code).toBe("NotFound");
    expect((await resolveGroups(undefined, ["wheel"]))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await resolveGroups(root, ["wheel", "99999999999"]))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("lists the supplementary groups of a user name", async () => {
    expect((await supplementaryGroupsOf(root, "root"))._unsafeUnwrap()).toEqual([10]);
    rmSync(join(root, "etc/group"));
    expect((await supplementaryGroupsOf(root, "root"))._unsafeUnwrap()).toEqual([]);
  });
});

describe("a layered (unmounted overlay) root filesystem", () => {
  let dir: string;
  let upper: string;
  let lower: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-spec-layers-"));
    upper = join(dir, "upper");
    lower = join(dir, "lower");
    mkdirSync(join(upper, "etc"), { recursive: true });
    mkdirSync(join(lower, "etc"), { recursive: true });
    writeFileSync(join(lower, "etc/passwd"), "root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");
    writeFileSync(join(lower, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
    writeFileSync(join(upper, "etc/group"), "root:x:0:\nnogroup:x:65534:\nextra:x:77:nobody\n");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("takes each file from the topmost layer that has it", async () => {
    const u = (await resolveUser({ layers: [upper, lower] }, "nobody"))._unsafeUnwrap();
    expect(u).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534, 77] });
  });

  it("honours OCI .wh. whiteouts in upper layers", async () => {
    writeFileSync(join(upper, "etc/.wh.passwd"), "");
    const e = (await resolveUser({ layers: [upper, lower] }, "nobody"))._unsafeUnwrapErr();
    expect(e.code).toBe("NotFound");
    expect(e.message).toContain("overlay of");
  });

  it.skipIf(process.getuid?.() !== 0)("honours overlayfs whiteouts (0:0 character devices)", async () => {
    execFileSync("mknod", [join(upper, "etc/passwd"), "c", "0", "0"]);
    expect((await resolveUser({ layers: [upper, lower] }, "nobody"))._unsafeUnwrapErr().code).toBe("NotFound");
  });

  it("follows symlinks across layers", async () => {
    mkdirSync(join(upper, "usr/lib"), { recursive: true });
    writeFileSync(join(upper, "usr/lib/passwd"), "svc:x:500:500::/:/bin/sh\n");
    symlinkSync("/usr/lib/passwd", join(lower, "etc/passwd-link"));
    rmSync(join(lower, "etc/passwd"));
    symlinkSync("passwd-link", join(lower, "etc/passwd"));
    expect((await resolveUser({ layers: [upper, lower] }, "svc"))._unsafeUnwrap()).toMatchObject({
      uid: 500,
      gid: 500,
    });
  });

  it("is read from a snapshot's mounts", () => {
    expect(
      rootfsFromMounts([
        { type: "overlay", source: "overlay", options: ["index=off", `upperdir=${upper}`, `lowerdir=${lower}:/l2`] },
      ])._unsafeUnwrap(),
    ).toEqual({ layers: [upper, lower, "/l2"] });
    expect(rootfsFromMounts([{ type: "bind", source: lower, options: ["ro", "rbind"] }])._unsafeUnwrap()).toBe(lower);
    expect(rootfsFromMounts([{ type: "ext4", source: "/dev/vdb", options: [] }])._unsafeUnwrapErr().code).toBe(
      "InvalidArgument",
    );
    expect(rootfsFromMounts([])._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect(rootfsFromMounts([{ type: "overlay", source: "overlay", options: ["lowerdir=rel"] }]).isErr()).toBe(true);
  });

  it("needs absolute layer paths", async () => {
    expect((await resolveUser({ layers: ["rel"] }, "nobody"))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await resolveUser({ layers: [] }, "nobody"))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });
});
