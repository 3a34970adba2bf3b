import { describe, expect, it } from "vitest";
import { devMajorMinor, parseNsfsMounts, parseNsName } from "./mountinfo.js";

const SAMPLE = [
  "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
  "41 26 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard",
  "42 41 0:4 net:[4026532176] /run/netns/task-1 rw shared:2 - nsfs nsfs rw",
  "43 26 0:4 uts:[4026531838] /tmp/with\\040space rw - nsfs nsfs rw",
  "44 26 0:4 net:[4026532999] /tmp/no-optional rw master:7 shared:9 - nsfs nsfs rw",
  "45 26 0:4 garbage /tmp/bad rw - nsfs nsfs rw",
  "truncated line",
  "",
].join("\n");

describe("parseNsfsMounts", () => {
  it("returns the nsfs mounts with their namespace type and inode", () => {
    expect(parseNsfsMounts(SAMPLE)).toEqual([
      { major: 0n, minor: 4n, nsType: "net", ino: 4026532176n, mountPoint: "/run/netns/task-1" },
      { major: 0n, minor: 4n, nsType: "uts", ino: 4026531838n, mountPoint: "/tmp/with space" },
      { major: 0n, minor: 4n, nsType: "net", ino: 4026532999n, mountPoint: "/tmp/no-optional" },
    ]);
  });
});

describe("parseNsName", () => {
  it("parses the kernel's namespace names and nothing else", () => {
    expect(parseNsName("net:[4026531833]")).toEqual({ nsType: "net", ino: 4026531833n });
    expect(parseNsName("pid_for_children:[1]")).toEqual({ nsType: "pid_for_children", ino: 1n });
    expect(parseNsName("/run/netns/x")).toBeUndefined();
    expect(parseNsName("net:[]")).toBeUndefined();
  });
});

describe("devMajorMinor", () => {
  it("decodes glibc's dev_t encoding", () => {
    expect(devMajorMinor(4n)).toEqual({ major: 0n, minor: 4n });
    expect(devMajorMinor(254n << 8n)).toEqual({ major: 254n, minor: 0n });
    // major 0x12345 and minor 0x6789a use the high bits of both halves.
    const dev = (0x12345n & 0xfffn) << 8n;
    const encoded = dev | ((0x12345n & ~0xfffn) << 32n) | (0x6789an & 0xffn) | ((0x6789an & ~0xffn) << 12n);
    expect(devMajorMinor(encoded)).toEqual({ major: 0x12345n, minor: 0x6789an });
  });
});
