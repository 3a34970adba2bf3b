import { readFile } from "node:fs/promises";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import { ContainerdError } from "../errors.js";
import { editSpec, invalidOption, type SpecOpt } from "./build.js";
import { KNOWN_CAPABILITIES } from "./defaults.js";
import type { LinuxCapabilities, LinuxDevice, LinuxSeccomp, Spec } from "./types.js";

/**
 * Normalizes capability names: upper case with the `CAP_` prefix (`net_admin` -> `CAP_NET_ADMIN`).
 * Fails with `InvalidArgument` for a name Linux does not define; `ALL` expands to every known one.
 */
export function normalizeCapabilities(option: string, caps: readonly string[]): Result<string[], ContainerdError> {
  const out: string[] = [];
  for (const raw of caps) {
    const upper = raw.trim().toUpperCase();
    if (upper === "ALL" || upper === "CAP_ALL") {
      for (const c of KNOWN_CAPABILITIES) if (!out.includes(c)) out.push(c);
      continue;
    }
    const name = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
    if (!KNOWN_CAPABILITIES.includes(name)) {
      return err(invalidOption(option, `unknown capability ${JSON.stringify(raw)} (e.g. CAP_NET_ADMIN or NET_ADMIN)`));
    }
    if (!out.includes(name)) out.push(name);
  }
  return ok(out);
}

function capsOf(d: Spec): LinuxCapabilities {
  d.process ??= { user: { uid: 0, gid: 0 }, cwd: "/" };
  d.process.capabilities ??= {};
  return d.process.capabilities;
}

/**
 * Sets the bounding, effective and permitted sets to exactly `caps` (containerd's `WithCapabilities`);
 * the inheritable set keeps only members of `caps`.
 */
export function withCapabilities(caps: readonly string[]): SpecOpt {
  return (spec) =>
    normalizeCapabilities("withCapabilities", caps).map((list) =>
      editSpec(spec, (d) => {
        const c = capsOf(d);
        c.bounding = [...list];
        c.effective = [...list];
        c.permitted = [...list];
        if (list.length === 0) delete c.inheritable;
        else if (c.inheritable) c.inheritable = c.inheritable.filter((x) => list.includes(x));
      }),
    );
}

/** Adds capabilities to the bounding, effective and permitted sets (`--cap-add`). */
export function withAddedCapabilities(caps: readonly string[]): SpecOpt {
  return (spec) =>
    normalizeCapabilities("withAddedCapabilities", caps).map((list) =>
      editSpec(spec, (d) => {
        const c = capsOf(d);
        for (const key of ["bounding", "effective", "permitted"] as const) {
          const set = c[key] ?? [];
          for (const cap of list) if (!set.includes(cap)) set.push(cap);
          c[key] = set;
        }
      }),
    );
}

/** Removes capabilities from every set (`--cap-drop`; `ALL` drops all). */
export function withDroppedCapabilities(caps: readonly string[]): SpecOpt {
  return (spec) =>
    normalizeCapabilities("withDroppedCapabilities", caps).map((list) =>
      editSpec(spec, (d) => {
        const c = capsOf(d);
        for (const key of ["bounding", "effective", "permitted", "inheritable", "ambient"] as const) {
          const set = c[key];
          if (set !== undefined) c[key] = set.filter((x) => !list.includes(x));
        }
      }),
    );
}

/**
 * Sets the inheritable and ambient sets (containerd's `WithAmbientCapabilities`): lets a non-root
 * process keep these capabilities. They must also be in the bounding and permitted sets.
 */
export function withAmbientCapabilities(caps: readonly string[]): SpecOpt {
  return (spec) =>
    normalizeCapabilities("withAmbientCapabilities", caps).map((list) =>
      editSpec(spec, (d) => {
        const c = capsOf(d);
        c.inheritable = [...list];
        c.ambient = [...list];
      }),
    );
}

/** Decodes a capability mask (`CapEff` of /proc/<pid>/status, hex) into names. */
export function capabilitiesFromMask(hex: string): string[] {
  let mask = BigInt(`0x${hex.trim() || "0"}`);
  const out: string[] = [];
  for (let bit = 0; mask !== 0n; bit += 1, mask >>= 1n) {
    if ((mask & 1n) === 1n) {
      const name = KNOWN_CAPABILITIES[bit];
      if (name !== undefined) out.push(name);
    }
  }
  return out;
}

/** The effective capabilities of this process (what a privileged container can get), from /proc/self/status. */
export function currentCapabilities(): ResultAsync<string[], ContainerdError> {
  return ResultAsync.fromPromise(readFile("/proc/self/status", "utf8"), (cause) => {
    return new ContainerdError(
      "Unknown",
      "could not read /proc/self/status to learn this process's capabilities: is /proc mounted?",
      { resource: "/proc/self/status", cause },
    );
  }).andThen((text) => {
    const line = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
    if (!line?.[1]) {
      return err(
        new ContainerdError("Unknown", "/proc/self/status has no CapEff line: this needs Linux", {
          resource: "/proc/self/status",
        }),
      );
    }
    return ok(capabilitiesFromMask(line[1]));
  });
}

/** What {@link withPrivileged} grants beyond containerd's `WithPrivileged`. */
export interface PrivilegedOptions {
  /** Allow access to every device (device cgroup `a *:* rwm`), as `ctr run --privileged` does. Default true. */
  readonly allDevices?: boolean;
}

/**
 * A privileged container, as `ctr run --privileged-without-host-devices` builds it: all of this
 * process's effective capabilities, nothing masked or read-only, writable /sys and cgroup mounts,
 * no AppArmor profile, no seccomp filter, and (by default) every device allowed in the device
 * cgroup. Host device nodes are not copied into /dev; add ones you need with {@link withLinuxDevices}.
 */
export function withPrivileged(options: PrivilegedOptions = {}): SpecOpt {
  return (spec) =>
    currentCapabilities().map((caps) =>
      editSpec(spec, (d) => {
        const c = capsOf(d);
        c.bounding = [...caps];
        c.effective = [...caps];
        c.permitted = [...caps];
        if (c.inheritable) c.inheritable = c.inheritable.filter((x) => caps.includes(x));
        if (d.process) delete d.process.apparmorProfile;
        if (d.process) delete d.process.selinuxLabel;
        d.linux ??= {};
        delete d.linux.maskedPaths;
        delete d.linux.readonlyPaths;
        delete d.linux.seccomp;
        for (const m of d.mounts ?? []) {
          if (m.type === "sysfs" || m.type === "cgroup")
            m.options = (m.options ?? []).map((o) => (o === "ro" ? "rw" : o));
        }
        if (options.allDevices !== false) {
          d.linux.resources ??= {};
          d.linux.resources.devices = [{ allow: true, access: "rwm" }];
        }
      }),
    );
}

/** Sets a seccomp profile (runc loads it; the default spec has none, as containerd's). */
export function withSeccomp(profile: LinuxSeccomp): SpecOpt {
  return (spec) => {
    if (!/^SCMP_ACT_[A-Z_]+$/.test(profile.defaultAction)) {
      return err(
        invalidOption("withSeccomp", `defaultAction ${JSON.stringify(profile.defaultAction)} is not SCMP_ACT_*`),
      );
    }
    return ok(
      editSpec(spec, (d) => {
        d.linux ??= {};
        d.linux.seccomp = structuredClone(profile);
      }),
    );
  };
}

/** Removes any seccomp profile. */
export function withoutSeccomp(): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      if (d.linux) delete d.linux.seccomp;
    });
}

/**
 * Creates device nodes in the container and allows them in the device cgroup with `access`
 * (default `rwm`), as containerd's `WithDevices` does.
 */
export function withLinuxDevices(devices: readonly LinuxDevice[], access = "rwm"): SpecOpt {
  return (spec) => {
    if (!/^[rwm]{1,3}$/.test(access))
      return err(invalidOption("withLinuxDevices", `access ${JSON.stringify(access)} is not r/w/m`));
    const bad = devices.find((dev) => !dev.path.startsWith("/dev/") || !["c", "b", "u", "p"].includes(dev.type));
    if (bad !== undefined) {
      return err(
        invalidOption(
          "withLinuxDevices",
          `device ${JSON.stringify(bad.path)} needs a /dev/ path and type c, b, u or p`,
        ),
      );
    }
    return ok(
      editSpec(spec, (d) => {
        d.linux ??= {};
        d.linux.devices = [...(d.linux.devices ?? []), ...devices.map((dev) => ({ ...dev }))];
        d.linux.resources ??= {};
        d.linux.resources.devices = [
          ...(d.linux.resources.devices ?? []),
          ...devices.map((dev) => ({
            allow: true,
            type: dev.type === "u" ? "c" : dev.type,
            major: dev.major,
            minor: dev.minor,
            access,
          })),
        ];
      }),
    );
  };
}

/** Allows every device in the device cgroup (`a *:* rwm`). */
export function withAllDevicesAllowed(): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      d.linux ??= {};
      d.linux.resources ??= {};
      d.linux.resources.devices = [{ allow: true, access: "rwm" }];
    });
}
