// berth's default spec against containerd's own: the fixtures are `ctr oci spec` output of the
// stack's containerd 1.6.20 and 2.1.9 (namespace "default", no container id). Every difference is
// listed below with its reason; everything else must be equal field by field.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  cgroupsPathOf,
  DEFAULT_CAPABILITIES,
  DEFAULT_DEVICE_RULES,
  DEFAULT_MASKED_PATHS,
  defaultSpec,
  KNOWN_CAPABILITIES,
  OCI_VERSION,
} from "./defaults.js";
import type { Spec } from "./types.js";

function fixture(name: string): Spec {
  return JSON.parse(readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), "utf8")) as Spec;
}

const fixtures = [
  { daemon: "containerd 1.6.20", spec: fixture("ctr-1.6.20-oci-spec.json") },
  { daemon: "containerd 2.1.9", spec: fixture("ctr-2.1.9-oci-spec.json") },
];

/** The intended differences, applied to containerd's spec to get berth's. */
function withIntendedDifferences(containerd: Spec): Spec {
  const expected = structuredClone(containerd);
  // 1. ociVersion: 1.6 writes 1.0.2-dev, 2.1 writes 1.2.1; berth declares the version its output follows.
  expected.ociVersion = OCI_VERSION;
  // 2. Device rules: `ctr oci spec` shows only deny-all; `ctr run` and CRI add WithDefaultUnixDevices
  //    (null, random, full, tty, zero, urandom, console, pts, ptmx), which berth includes by default.
  if (expected.linux?.resources) expected.linux.resources.devices = DEFAULT_DEVICE_RULES.map((d) => ({ ...d }));
  // 3. maskedPaths: 1.6.20 predates masking /sys/devices/virtual/powercap; berth masks it as 2.x does.
  if (expected.linux) expected.linux.maskedPaths = [...DEFAULT_MASKED_PATHS];
  return expected;
}

describe.each(fixtures)("defaultSpec vs `ctr oci spec` of $daemon", ({ spec: containerd }) => {
  const ours = defaultSpec({ namespace: "default", id: "" });
  const expected = withIntendedDifferences(containerd);

  it("has the same top-level fields", () => {
    expect(Object.keys(ours).sort()).toEqual(Object.keys(containerd).sort());
  });

  it("has the same process (user, cwd, capabilities, rlimits, no-new-privileges)", () => {
    expect(ours.process).toEqual(expected.process);
    expect(ours.process?.capabilities?.bounding).toEqual(containerd.process?.capabilities?.bounding);
    expect(ours.process?.rlimits).toEqual([{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }]);
  });

  it("has the same root and mounts, in order", () => {
    expect(ours.root).toEqual(containerd.root);
    expect(ours.mounts).toEqual(containerd.mounts);
  });

  it("has the same namespaces, cgroup path and read-only paths", () => {
    expect(ours.linux?.namespaces).toEqual(containerd.linux?.namespaces);
    expect(ours.linux?.cgroupsPath).toBe(containerd.linux?.cgroupsPath);
    expect(ours.linux?.readonlyPaths).toEqual(containerd.linux?.readonlyPaths);
  });

  it("keeps containerd's masked paths, in containerd's order", () => {
    const theirs = containerd.linux?.maskedPaths ?? [];
    expect(ours.linux?.maskedPaths?.filter((p) => theirs.includes(p))).toEqual(theirs);
  });

  it("starts the device rules with containerd's deny-all", () => {
    expect(ours.linux?.resources?.devices?.[0]).toEqual(containerd.linux?.resources?.devices?.[0]);
  });

  it("equals containerd's spec once the documented differences are applied", () => {
    expect(ours).toEqual(expected);
  });
});

describe("defaultSpec", () => {
  it("puts the container in /<namespace>/<id> as the Go client does", () => {
    expect(defaultSpec({ namespace: "agent", id: "web-1" }).linux?.cgroupsPath).toBe("/agent/web-1");
    expect(cgroupsPathOf("default", "")).toBe("/default");
    expect(cgroupsPathOf("ns", "id")).toBe("/ns/id");
  });

  it("returns independent objects", () => {
    const a = defaultSpec({ namespace: "n", id: "a" });
    a.process?.capabilities?.bounding?.push("CAP_SYS_ADMIN");
    a.mounts?.[0]?.options?.push("ro");
    const b = defaultSpec({ namespace: "n", id: "a" });
    expect(b.process?.capabilities?.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(b.mounts?.[0]?.options).toEqual(["nosuid", "noexec", "nodev"]);
  });

  it("serializes without undefined or null members", () => {
    const json = JSON.stringify(defaultSpec({ namespace: "n", id: "a" }));
    expect(json).not.toContain("null");
    expect(JSON.parse(json)).toEqual(defaultSpec({ namespace: "n", id: "a" }));
  });

  it("knows capability numbers 0..40 with the default set among them", () => {
    expect(KNOWN_CAPABILITIES).toHaveLength(41);
    expect(KNOWN_CAPABILITIES[21]).toBe("CAP_SYS_ADMIN");
    expect(KNOWN_CAPABILITIES[40]).toBe("CAP_CHECKPOINT_RESTORE");
    for (const c of DEFAULT_CAPABILITIES) expect(KNOWN_CAPABILITIES).toContain(c);
  });
});
