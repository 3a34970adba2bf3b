import type { LinuxDeviceCgroup, LinuxNamespace, Spec, SpecMount } from "./types.js";

/**
 * The runtime-spec version berth's specs declare. containerd 1.6 writes `1.0.2-dev` and 2.1
 * writes `1.2.1`; runc reads both. Everything berth emits is valid runtime-spec 1.1.0.
 */
export const OCI_VERSION = "1.1.0";

/** `root.path` containerd uses: the `rootfs` directory of the task bundle, where the snapshot is mounted. */
export const DEFAULT_ROOTFS_PATH = "rootfs";

/** `PATH` containerd's image-config option sets when the image declares no environment. */
export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The capabilities of an unprivileged container: containerd's (and Docker's) default set, in containerd's order. */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
]);

/** Every capability Linux defines (up to 6.x), indexed by capability number. */
export const KNOWN_CAPABILITIES: readonly string[] = Object.freeze([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
]);

/** containerd's default mounts: /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys (read-only) and /run. */
export const DEFAULT_MOUNTS: readonly Readonly<SpecMount>[] = Object.freeze([
  { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
  {
    destination: "/dev",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
  },
  {
    destination: "/dev/pts",
    type: "devpts",
    source: "devpts",
    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
  },
  {
    destination: "/dev/shm",
    type: "tmpfs",
    source: "shm",
    options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
  },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  {
    destination: "/run",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
  },
]);

/**
 * Paths masked inside the container: containerd 2.x's list (1.6's plus `/sys/devices/virtual/powercap`,
 * which later 1.6/1.7 patch releases also mask; it exposes power readings usable as a side channel).
 */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
  "/proc/scsi",
]);

/** Paths remounted read-only inside the container (containerd's list). */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
]);

/** Namespaces a container gets by default (new ones of each): pid, ipc, uts, mount, network. */
export const DEFAULT_NAMESPACES: readonly Readonly<LinuxNamespace>[] = Object.freeze([
  { type: "pid" },
  { type: "ipc" },
  { type: "uts" },
  { type: "mount" },
  { type: "network" },
]);

/**
 * The device cgroup rules of a default container: deny everything, then allow the devices every
 * container needs (/dev/null, random, full, tty, zero, urandom, console, the pts range and ptmx),
 * as containerd's `WithDefaultUnixDevices` (which `ctr run` and the CRI plugin apply) does.
 */
export const DEFAULT_DEVICE_RULES: readonly Readonly<LinuxDeviceCgroup>[] = Object.freeze([
  { allow: false, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 1, access: "rwm" },
  { allow: true, type: "c", major: 136, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" },
]);

/** Inputs of {@link defaultSpec}. */
export interface DefaultSpecOptions {
  /** containerd namespace of the container: the first element of the cgroup path. */
  readonly namespace: string;
  /** Container id: the second element of the cgroup path. */
  readonly id: string;
}

/**
 * containerd's default Linux spec for container `id` in `namespace` (what the Go client's
 * `oci.GenerateSpec` returns, plus the default device rules `ctr run` adds): root user, cwd `/`,
 * the default capabilities in the bounding, effective and permitted sets, `RLIMIT_NOFILE` 1024,
 * no-new-privileges, the default mounts, masked and read-only paths, new pid/ipc/uts/mount/network
 * namespaces and cgroup path `/<namespace>/<id>`. No args: set them with an option.
 *
 * Every call returns a fresh, independent object.
 */
export function defaultSpec(options: DefaultSpecOptions): Spec {
  return {
    ociVersion: OCI_VERSION,
    process: {
      user: { uid: 0, gid: 0 },
      cwd: "/",
      capabilities: {
        bounding: [...DEFAULT_CAPABILITIES],
        effective: [...DEFAULT_CAPABILITIES],
        permitted: [...DEFAULT_CAPABILITIES],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: DEFAULT_ROOTFS_PATH },
    mounts: DEFAULT_MOUNTS.map((m) => ({ ...m, ...(m.options ? { options: [...m.options] } : {}) })),
    linux: {
      resources: { devices: DEFAULT_DEVICE_RULES.map((d) => ({ ...d })) },
      cgroupsPath: cgroupsPathOf(options.namespace, options.id),
      namespaces: DEFAULT_NAMESPACES.map((n) => ({ ...n })),
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
}

/** The cgroup path containerd's client gives a container: `/<namespace>/<id>` (Go's `filepath.Join("/", ns, id)`). */
export function cgroupsPathOf(namespace: string, id: string): string {
  const parts = [namespace, id].flatMap((p) => p.split("/")).filter((p) => p !== "" && p !== ".");
  return `/${parts.join("/")}`;
}
