import { hostname as osHostname } from "node:os";
import { posix } from "node:path";
import { err, ok, type Result } from "neverthrow";
import type { ContainerdError } from "../errors.js";
import { editSpec, invalidOption, rootfsFor, type SpecOpt } from "./build.js";
import type {
  ConsoleSize,
  LinuxIdMapping,
  LinuxNamespace,
  LinuxNamespaceType,
  PosixRlimit,
  Spec,
  SpecMount,
  SpecProcess,
} from "./types.js";
import { resolveGroups, resolveUser } from "./user.js";

/** Largest uid/gid/umask-like 32-bit value we accept where the spec allows uint32. */
const MAX_UINT32 = 0xffff_ffff;

function processOf(draft: Spec): SpecProcess {
  draft.process ??= { user: { uid: 0, gid: 0 }, cwd: "/" };
  return draft.process;
}

/** Checks an integer option argument. */
export function checkInteger(
  option: string,
  name: string,
  value: number,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): Result<number, ContainerdError> {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    return err(invalidOption(option, `${name} must be an integer in ${min}..${max}, got ${String(value)}`));
  }
  return ok(value);
}

/**
 * Merges environment entries into `base` as containerd does: `KEY=value` replaces an entry with
 * the same key or is appended; a bare `KEY` (no `=`) removes the key.
 */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const result: (string | undefined)[] = [...base];
  const index = new Map<string, number>();
  base.forEach((e, i) => {
    const eq = e.indexOf("=");
    index.set(eq === -1 ? e : e.slice(0, eq), i);
  });
  for (const value of overrides) {
    const eq = value.indexOf("=");
    const key = eq === -1 ? value : value.slice(0, eq);
    const at = index.get(key);
    if (eq === -1) {
      if (at !== undefined) result[at] = undefined;
      continue;
    }
    if (at !== undefined && result[at] !== undefined) {
      result[at] = value;
    } else {
      index.set(key, result.length);
      result.push(value);
    }
  }
  return result.filter((e): e is string => e !== undefined);
}

/** Sets the process arguments (argv). At least one is required: the program. */
export function withArgs(...args: string[]): SpecOpt {
  return (spec) => {
    if (args.length === 0 || args[0] === "") return err(invalidOption("withArgs", "give at least the program to run"));
    return ok(
      editSpec(spec, (d) => {
        processOf(d).args = [...args];
      }),
    );
  };
}

/**
 * Adds environment variables (`["KEY=value"]` or `{ KEY: "value" }`), replacing same-named ones;
 * a bare `"KEY"` in the array form unsets KEY (containerd's `WithEnv`).
 */
export function withEnv(env: readonly string[] | Readonly<Record<string, string>>): SpecOpt {
  const entries = Array.isArray(env)
    ? [...(env as readonly string[])]
    : Object.entries(env as Record<string, string>).map(([k, v]) => `${k}=${v}`);
  return (spec) => {
    const bad = entries.find((e) => e === "" || e.startsWith("=") || e.includes("\0"));
    if (bad !== undefined) return err(invalidOption("withEnv", `invalid entry ${JSON.stringify(bad)}: use KEY=value`));
    return ok(
      editSpec(spec, (d) => {
        const p = processOf(d);
        p.env = mergeEnv(p.env ?? [], entries);
      }),
    );
  };
}

/** Sets the working directory (absolute path inside the container). */
export function withCwd(cwd: string): SpecOpt {
  return (spec) => {
    if (!posix.isAbsolute(cwd)) return err(invalidOption("withCwd", `${JSON.stringify(cwd)} is not an absolute path`));
    return ok(
      editSpec(spec, (d) => {
        processOf(d).cwd = cwd;
      }),
    );
  };
}

/** Gives the process a pseudo-terminal and sets `TERM=xterm` (containerd's `WithTTY`), optionally sized. */
export function withTty(size?: ConsoleSize): SpecOpt {
  return (spec) => {
    if (size !== undefined && (!Number.isSafeInteger(size.width) || !Number.isSafeInteger(size.height))) {
      return err(invalidOption("withTty", "width and height must be integers"));
    }
    return ok(
      editSpec(spec, (d) => {
        const p = processOf(d);
        p.terminal = true;
        if (size !== undefined) p.consoleSize = { height: size.height, width: size.width };
        p.env = mergeEnv(p.env ?? [], ["TERM=xterm"]);
      }),
    );
  };
}

/**
 * Runs the process as `user`: `user`, `uid`, `user:group`, `uid:gid`, `uid:group` or `user:gid`.
 * Names (and a lone uid's primary group) come from the image's `/etc/passwd` and `/etc/group`
 * under the context's `rootfs`; supplementary groups are set from `/etc/group` as containerd's
 * `WithUser` + `WithAdditionalGIDs` do. A name the image does not define fails with `NotFound`.
 */
export function withUser(user: string): SpecOpt {
  return (spec, context) =>
    resolveUser(rootfsFor(spec, context), user).map((u) =>
      editSpec(spec, (d) => {
        const p = processOf(d);
        p.user = { ...u, ...(p.user.umask === undefined ? {} : { umask: p.user.umask }) };
      }),
    );
}

/** Runs the process as numeric `uid`:`gid` (no file lookups); supplementary groups become `[gid]`. */
export function withUidGid(uid: number, gid: number): SpecOpt {
  return (spec) =>
    checkInteger("withUidGid", "uid", uid, 0, 2_147_483_647)
      .andThen(() => checkInteger("withUidGid", "gid", gid, 0, 2_147_483_647))
      .map(() =>
        editSpec(spec, (d) => {
          const p = processOf(d);
          p.user = { uid, gid, additionalGids: [gid], ...(p.user.umask === undefined ? {} : { umask: p.user.umask }) };
        }),
      );
}

/**
 * Appends supplementary groups (names resolved from the image's `/etc/group`, or numeric gids),
 * containerd's `WithAppendAdditionalGroups`. The primary gid stays listed.
 */
export function withAdditionalGroups(...groups: string[]): SpecOpt {
  return (spec, context) =>
    resolveGroups(rootfsFor(spec, context), groups).map((gids) =>
      editSpec(spec, (d) => {
        const u = processOf(d).user;
        const list = u.additionalGids ?? [];
        if (!list.includes(u.gid)) list.unshift(u.gid);
        for (const g of gids) if (!list.includes(g)) list.push(g);
        u.additionalGids = list;
      }),
    );
}

/** Sets the process umask, e.g. `0o027`. */
export function withUmask(umask: number): SpecOpt {
  return (spec) =>
    checkInteger("withUmask", "umask", umask, 0, 0o777).map(() =>
      editSpec(spec, (d) => {
        processOf(d).user.umask = umask;
      }),
    );
}

/** Sets (or replaces, by type) one resource limit, e.g. `{ type: "RLIMIT_NOFILE", soft: 65536, hard: 65536 }`. */
export function withRlimit(rlimit: PosixRlimit): SpecOpt {
  return (spec) => {
    if (!/^RLIMIT_[A-Z]+$/.test(rlimit.type)) {
      return err(invalidOption("withRlimit", `type ${JSON.stringify(rlimit.type)} is not an RLIMIT_* name`));
    }
    return checkInteger("withRlimit", "hard", rlimit.hard, 0)
      .andThen(() => checkInteger("withRlimit", "soft", rlimit.soft, 0, rlimit.hard))
      .map(() =>
        editSpec(spec, (d) => {
          const p = processOf(d);
          const list = p.rlimits ?? [];
          const entry = { type: rlimit.type, hard: rlimit.hard, soft: rlimit.soft };
          const at = list.findIndex((r) => r.type === rlimit.type);
          if (at === -1) list.push(entry);
          else list[at] = entry;
          p.rlimits = list;
        }),
      );
  };
}

/** Sets or clears no-new-privileges (on by default). */
export function withNoNewPrivileges(enabled = true): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      processOf(d).noNewPrivileges = enabled;
    });
}

/** Sets the process's OOM score adjustment (-1000..1000). */
export function withOomScoreAdj(score: number): SpecOpt {
  return (spec) =>
    checkInteger("withOomScoreAdj", "score", score, -1000, 1000).map(() =>
      editSpec(spec, (d) => {
        processOf(d).oomScoreAdj = score;
      }),
    );
}

/** Sets the AppArmor profile of the process (the profile must be loaded on the host). */
export function withApparmorProfile(profile: string): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      const p = processOf(d);
      if (profile === "") delete p.apparmorProfile;
      else p.apparmorProfile = profile;
    });
}

/** Sets the root filesystem path: relative to the bundle (containerd's `rootfs`) or an absolute host path. */
export function withRootfsPath(path: string): SpecOpt {
  return (spec) => {
    if (path === "") return err(invalidOption("withRootfsPath", "the path must not be empty"));
    return ok(
      editSpec(spec, (d) => {
        d.root = { ...(d.root ?? {}), path };
      }),
    );
  };
}

/** Mounts the root filesystem read-only (or read-write with `false`). */
export function withReadonlyRootfs(readonly = true): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      d.root ??= { path: "rootfs" };
      if (readonly) d.root.readonly = true;
      else delete d.root.readonly;
    });
}

/** Sets the hostname. Needs a private UTS namespace (the default). */
export function withHostname(name: string): SpecOpt {
  return (spec) => {
    if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,63})$/.test(name)) {
      return err(
        invalidOption(
          "withHostname",
          `${JSON.stringify(name)} is not a valid hostname: 1 to 64 letters, digits, '-' and '.', starting with a letter or digit`,
        ),
      );
    }
    if (!(spec.linux?.namespaces ?? []).some((n) => n.type === "uts" && n.path === undefined)) {
      return err(invalidOption("withHostname", "the spec has no private UTS namespace, so the hostname cannot be set"));
    }
    return ok(
      editSpec(spec, (d) => {
        d.hostname = name;
      }),
    );
  };
}

/** Appends mounts as given (see {@link withBindMount} for the common host-directory case). */
export function withMounts(mounts: readonly SpecMount[]): SpecOpt {
  return (spec) => {
    const bad = mounts.find((m) => !posix.isAbsolute(m.destination));
    if (bad !== undefined) {
      return err(invalidOption("withMounts", `destination ${JSON.stringify(bad.destination)} is not an absolute path`));
    }
    return ok(
      editSpec(spec, (d) => {
        d.mounts = [...(d.mounts ?? []), ...structuredClone(mounts as SpecMount[])];
      }),
    );
  };
}

/** A host path bind-mounted into the container. */
export interface BindMount {
  /** Absolute host path (file or directory). */
  readonly source: string;
  /** Absolute path inside the container. */
  readonly destination: string;
  /** Mount read-only. Default false. */
  readonly readonly?: boolean;
  /** Bind recursively (`rbind`, default) or just this mount (`bind`). */
  readonly recursive?: boolean;
  /** Mount propagation, e.g. `rprivate` (the kernel's default applies when unset). */
  readonly propagation?: "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave";
  /** Extra options, e.g. `nosuid`, `nodev`, `noexec`. */
  readonly options?: readonly string[];
}

/** Bind-mounts a host path into the container: `{ type: "bind", options: ["rbind", "ro"|"rw", ...] }`. */
export function withBindMount(bind: BindMount): SpecOpt {
  return (spec) => {
    if (!posix.isAbsolute(bind.source)) {
      return err(invalidOption("withBindMount", `source ${JSON.stringify(bind.source)} is not an absolute host path`));
    }
    if (!posix.isAbsolute(bind.destination)) {
      return err(invalidOption("withBindMount", `destination ${JSON.stringify(bind.destination)} is not absolute`));
    }
    const options = [
      bind.recursive === false ? "bind" : "rbind",
      bind.readonly === true ? "ro" : "rw",
      ...(bind.propagation ? [bind.propagation] : []),
      ...(bind.options ?? []),
    ];
    return ok(
      editSpec(spec, (d) => {
        d.mounts = [...(d.mounts ?? []), { destination: bind.destination, type: "bind", source: bind.source, options }];
      }),
    );
  };
}

/** Removes the mounts at these destinations (e.g. `"/run"`). */
export function withoutMounts(...destinations: string[]): SpecOpt {
  const clean = (p: string) => posix.normalize(p).replace(/(.)\/+$/, "$1");
  const set = new Set(destinations.map(clean));
  return (spec) =>
    editSpec(spec, (d) => {
      d.mounts = (d.mounts ?? []).filter((m) => !set.has(clean(m.destination)));
    });
}

/** Sets the size of `/dev/shm` in KiB (containerd's `WithDevShmSize`). Fails when the spec has no /dev/shm mount. */
export function withDevShmSize(kib: number): SpecOpt {
  return (spec) =>
    checkInteger("withDevShmSize", "size", kib, 1).andThen(() => {
      if (!(spec.mounts ?? []).some((m) => m.destination === "/dev/shm")) {
        return err(invalidOption("withDevShmSize", "the spec has no /dev/shm mount"));
      }
      return ok(
        editSpec(spec, (d) => {
          for (const m of d.mounts ?? []) {
            if (m.destination !== "/dev/shm") continue;
            m.options = [...(m.options ?? []).filter((o) => !o.startsWith("size=")), `size=${kib}k`];
          }
        }),
      );
    });
}

function setNamespace(d: Spec, ns: LinuxNamespace): void {
  d.linux ??= {};
  const list = d.linux.namespaces ?? [];
  const at = list.findIndex((n) => n.type === ns.type);
  if (at === -1) list.push(ns);
  else list[at] = ns;
  d.linux.namespaces = list;
}

/**
 * Joins an existing namespace (a bind-mounted nsfs file such as `/var/run/netns/task-1`, or
 * `/proc/<pid>/ns/<type>`) instead of creating one.
 */
export function withNamespacePath(type: LinuxNamespaceType, path: string): SpecOpt {
  return (spec) => {
    if (!posix.isAbsolute(path)) {
      return err(invalidOption("withNamespacePath", `${type} namespace path ${JSON.stringify(path)} is not absolute`));
    }
    return ok(editSpec(spec, (d) => setNamespace(d, { type, path })));
  };
}

/**
 * Joins a pre-made network namespace (e.g. one `@berth/netns` created and CNI wired), so the
 * container sees its interfaces: `linux.namespaces` gets `{ type: "network", path }`.
 */
export function withNetworkNamespacePath(path: string): SpecOpt {
  return withNamespacePath("network", path);
}

/** Uses the host's namespace of this type (removes it from `linux.namespaces`). */
export function withHostNamespace(type: LinuxNamespaceType): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      if (d.linux?.namespaces) d.linux.namespaces = d.linux.namespaces.filter((n) => n.type !== type);
    });
}

/**
 * Runs in the host's network namespace as `ctr run --net-host` does: no network namespace, the
 * host's `/etc/hosts` and `/etc/resolv.conf` bind-mounted read-only, and `HOSTNAME` set to the
 * host's name.
 */
export function withHostNetwork(): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      if (d.linux?.namespaces) d.linux.namespaces = d.linux.namespaces.filter((n) => n.type !== "network");
      d.mounts = [
        ...(d.mounts ?? []),
        { destination: "/etc/hosts", type: "bind", source: "/etc/hosts", options: ["rbind", "ro"] },
        { destination: "/etc/resolv.conf", type: "bind", source: "/etc/resolv.conf", options: ["rbind", "ro"] },
      ];
      const p = processOf(d);
      p.env = mergeEnv(p.env ?? [], [`HOSTNAME=${osHostname()}`]);
    });
}

/** Runs in a new user namespace with these id mappings (appended; the namespace is added once). */
export function withUserNamespace(
  uidMappings: readonly LinuxIdMapping[],
  gidMappings: readonly LinuxIdMapping[],
): SpecOpt {
  return (spec) => {
    for (const m of [...uidMappings, ...gidMappings]) {
      const bad = [m.containerID, m.hostID, m.size].find((v) => !Number.isSafeInteger(v) || v < 0 || v > MAX_UINT32);
      if (bad !== undefined) return err(invalidOption("withUserNamespace", `mapping value ${bad} is not a uint32`));
    }
    return ok(
      editSpec(spec, (d) => {
        d.linux ??= {};
        if (!(d.linux.namespaces ?? []).some((n) => n.type === "user")) {
          d.linux.namespaces = [...(d.linux.namespaces ?? []), { type: "user" }];
        }
        d.linux.uidMappings = [...(d.linux.uidMappings ?? []), ...uidMappings.map((m) => ({ ...m }))];
        d.linux.gidMappings = [...(d.linux.gidMappings ?? []), ...gidMappings.map((m) => ({ ...m }))];
      }),
    );
  };
}

/** Sets the cgroup path (default `/<namespace>/<id>`; with the systemd driver `slice:prefix:name`). */
export function withCgroupsPath(path: string): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      d.linux ??= {};
      d.linux.cgroupsPath = path;
    });
}

/** Sets kernel parameters in the container's namespaces, e.g. `{ "net.ipv4.ip_unprivileged_port_start": "0" }`. */
export function withSysctls(sysctls: Readonly<Record<string, string>>): SpecOpt {
  return (spec) => {
    const bad = Object.keys(sysctls).find((k) => !/^[A-Za-z0-9_]+(?:[./][A-Za-z0-9_-]+)+$/.test(k));
    if (bad !== undefined) return err(invalidOption("withSysctls", `${JSON.stringify(bad)} is not a sysctl name`));
    return ok(
      editSpec(spec, (d) => {
        d.linux ??= {};
        d.linux.sysctl = { ...(d.linux.sysctl ?? {}), ...sysctls };
      }),
    );
  };
}

/** Adds annotations (replacing same-named ones). */
export function withAnnotations(annotations: Readonly<Record<string, string>>): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      d.annotations = { ...(d.annotations ?? {}), ...annotations };
    });
}

/** Replaces the masked paths (empty list: mask nothing). */
export function withMaskedPaths(paths: readonly string[]): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      d.linux ??= {};
      d.linux.maskedPaths = [...paths];
    });
}

/** Replaces the read-only paths (empty list: none). */
export function withReadonlyPaths(paths: readonly string[]): SpecOpt {
  return (spec) =>
    editSpec(spec, (d) => {
      d.linux ??= {};
      d.linux.readonlyPaths = [...paths];
    });
}
