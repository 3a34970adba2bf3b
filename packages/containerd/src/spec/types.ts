// The OCI runtime spec (runtime-spec 1.x), Linux subset: the JSON document containerd hands to runc.
// Property names are the spec's JSON names, so a Spec serializes with JSON.stringify as is.

/** A user and its groups inside the container (`process.user`). */
export interface SpecUser {
  /** User id inside the container. */
  uid: number;
  /** Primary group id inside the container. */
  gid: number;
  /** Supplementary group ids. containerd always lists the primary gid here too. */
  additionalGids?: number[];
  /** File mode creation mask of the process, e.g. `0o022`. */
  umask?: number;
}

/** Linux capability sets of the process (names like `CAP_CHOWN`). */
export interface LinuxCapabilities {
  /** The bounding set: the upper limit of what the process can ever gain. */
  bounding?: string[];
  /** The effective set: what the kernel checks. */
  effective?: string[];
  /** The permitted set: what the process may raise into its effective set. */
  permitted?: string[];
  /** The inheritable set: what survives an execve for a privileged program. */
  inheritable?: string[];
  /** The ambient set: what survives an execve for an unprivileged program. */
  ambient?: string[];
}

/** One resource limit (`setrlimit`), e.g. `{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }`. */
export interface PosixRlimit {
  /** Limit name, `RLIMIT_` followed by the resource (NOFILE, NPROC, CORE, ...). */
  type: string;
  /** Hard limit. */
  hard: number;
  /** Soft limit (at most {@link PosixRlimit.hard}). */
  soft: number;
}

/** Terminal size for a process started with a TTY. */
export interface ConsoleSize {
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/** The container's process (`process`); also the body of an exec. */
export interface SpecProcess {
  /** Whether the process gets a pseudo-terminal. */
  terminal?: boolean;
  /** Initial terminal size when {@link SpecProcess.terminal} is set. */
  consoleSize?: ConsoleSize;
  /** Identity the process runs as. */
  user: SpecUser;
  /** argv; `args[0]` is looked up in the container's `PATH` when it has no slash. */
  args?: string[];
  /** Environment as `KEY=value` strings. */
  env?: string[];
  /** Absolute working directory inside the container. */
  cwd: string;
  /** Capability sets. */
  capabilities?: LinuxCapabilities;
  /** Resource limits. */
  rlimits?: PosixRlimit[];
  /** Sets `PR_SET_NO_NEW_PRIVS`: setuid binaries and file capabilities cannot raise privileges. */
  noNewPrivileges?: boolean;
  /** AppArmor profile name. */
  apparmorProfile?: string;
  /** OOM killer adjustment, -1000 (never) to 1000 (first). */
  oomScoreAdj?: number;
  /** SELinux process label. */
  selinuxLabel?: string;
}

/** The container's root filesystem (`root`). */
export interface SpecRoot {
  /** Path of the root filesystem: relative to the bundle (`rootfs`, as containerd uses) or absolute. */
  path: string;
  /** Mount the root filesystem read-only. */
  readonly?: boolean;
}

/** One mount inside the container (`mounts[]`). */
export interface SpecMount {
  /** Absolute path inside the container. */
  destination: string;
  /** Filesystem type (`bind`, `tmpfs`, `proc`, ...). */
  type?: string;
  /** Device or host path (for binds). */
  source?: string;
  /** fstab-style options, e.g. `["rbind", "ro"]`. */
  options?: string[];
}

/** A Linux namespace type as the runtime spec names it. */
export type LinuxNamespaceType = "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup" | "time";

/** A namespace the container gets (`linux.namespaces[]`): new, or joined when {@link LinuxNamespace.path} is set. */
export interface LinuxNamespace {
  /** Which namespace. */
  type: LinuxNamespaceType;
  /** A namespace file to join (e.g. `/var/run/netns/task-1`) instead of creating a new namespace. */
  path?: string;
}

/** A user-namespace id mapping (`linux.uidMappings[]` / `gidMappings[]`). */
export interface LinuxIdMapping {
  /** First id inside the container. */
  containerID: number;
  /** First id on the host. */
  hostID: number;
  /** Number of ids mapped. */
  size: number;
}

/** A device cgroup rule (`linux.resources.devices[]`). */
export interface LinuxDeviceCgroup {
  /** Allow (true) or deny (false) the access. */
  allow: boolean;
  /** `a` (all), `c` (char) or `b` (block); all when omitted. */
  type?: string;
  /** Major number; all when omitted. */
  major?: number;
  /** Minor number; all when omitted. */
  minor?: number;
  /** Any of `r`, `w`, `m` (mknod). */
  access?: string;
}

/** Memory cgroup settings in bytes (`linux.resources.memory`). */
export interface LinuxMemory {
  /** Hard limit. */
  limit?: number;
  /** Soft limit (memory.low on cgroup v2, memory.soft_limit_in_bytes on v1). */
  reservation?: number;
  /** Memory plus swap limit. */
  swap?: number;
  /** Swappiness 0..100 (cgroup v1 only). */
  swappiness?: number;
  /** Disable the OOM killer for the cgroup. */
  disableOOMKiller?: boolean;
}

/** CPU cgroup settings (`linux.resources.cpu`). */
export interface LinuxCpu {
  /** Relative weight (cgroup v1 cpu.shares; converted to cpu.weight on v2). Docker's default is 1024. */
  shares?: number;
  /** CFS quota in microseconds per {@link LinuxCpu.period}. */
  quota?: number;
  /** CFS period in microseconds (usually 100000). */
  period?: number;
  /** Real-time runtime in microseconds. */
  realtimeRuntime?: number;
  /** Real-time period in microseconds. */
  realtimePeriod?: number;
  /** CPUs the container may use, cpuset syntax (`0-3,6`). */
  cpus?: string;
  /** Memory nodes the container may use, cpuset syntax. */
  mems?: string;
}

/** Pids cgroup settings (`linux.resources.pids`). */
export interface LinuxPids {
  /** Maximum number of tasks; 0 or less means no limit. */
  limit: number;
}

/** cgroup settings (`linux.resources`). */
export interface LinuxResources {
  /** Device access rules, applied in order. */
  devices?: LinuxDeviceCgroup[];
  /** Memory limits. */
  memory?: LinuxMemory;
  /** CPU weight, quota and placement. */
  cpu?: LinuxCpu;
  /** Task count limit. */
  pids?: LinuxPids;
}

/** A device node to create in the container (`linux.devices[]`). */
export interface LinuxDevice {
  /** Path inside the container, e.g. `/dev/fuse`. */
  path: string;
  /** `c` (char), `b` (block), `u` (unbuffered char) or `p` (FIFO). */
  type: string;
  /** Major number. */
  major: number;
  /** Minor number. */
  minor: number;
  /** Permission bits of the node. */
  fileMode?: number;
  /** Owner uid. */
  uid?: number;
  /** Owner gid. */
  gid?: number;
}

/** A condition on one syscall argument in a seccomp rule. */
export interface LinuxSeccompArg {
  /** Argument position, 0-based. */
  index: number;
  /** Value compared against. */
  value: number;
  /** Second value, for `SCMP_CMP_MASKED_EQ`. */
  valueTwo?: number;
  /** Comparison, e.g. `SCMP_CMP_EQ`, `SCMP_CMP_MASKED_EQ`. */
  op: string;
}

/** One seccomp rule (`linux.seccomp.syscalls[]`). */
export interface LinuxSyscall {
  /** Syscall names the rule matches. */
  names: string[];
  /** Action, e.g. `SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO`. */
  action: string;
  /** errno returned with `SCMP_ACT_ERRNO`. */
  errnoRet?: number;
  /** Argument filters. */
  args?: LinuxSeccompArg[];
}

/** A seccomp profile (`linux.seccomp`). */
export interface LinuxSeccomp {
  /** Action for syscalls no rule matches, e.g. `SCMP_ACT_ERRNO`. */
  defaultAction: string;
  /** errno for the default action. */
  defaultErrnoRet?: number;
  /** Architectures, e.g. `SCMP_ARCH_X86_64`. */
  architectures?: string[];
  /** Filter flags, e.g. `SECCOMP_FILTER_FLAG_LOG`. */
  flags?: string[];
  /** The rules. */
  syscalls?: LinuxSyscall[];
}

/** Linux-specific configuration (`linux`). */
export interface SpecLinux {
  /** User-namespace uid mappings. */
  uidMappings?: LinuxIdMapping[];
  /** User-namespace gid mappings. */
  gidMappings?: LinuxIdMapping[];
  /** Kernel parameters to set, e.g. `{ "net.ipv4.ip_forward": "1" }`. */
  sysctl?: Record<string, string>;
  /** cgroup limits. */
  resources?: LinuxResources;
  /** cgroup path: `/<namespace>/<id>` as containerd's client sets it, or `slice:prefix:name` with systemd. */
  cgroupsPath?: string;
  /** Namespaces to create or join. */
  namespaces?: LinuxNamespace[];
  /** Device nodes to create. */
  devices?: LinuxDevice[];
  /** Seccomp profile. */
  seccomp?: LinuxSeccomp;
  /** Paths masked over (made unreadable) inside the container. */
  maskedPaths?: string[];
  /** Paths remounted read-only inside the container. */
  readonlyPaths?: string[];
}

/**
 * An OCI runtime spec (runtime-spec 1.x, Linux subset) as containerd stores it on a container and
 * hands it to the runtime. Build one with {@link buildSpec}; serialize it with {@link specAny}.
 */
export interface Spec {
  /** The runtime-spec version the document follows. */
  ociVersion: string;
  /** The container process. */
  process?: SpecProcess;
  /** The root filesystem. */
  root?: SpecRoot;
  /** Hostname inside the container's UTS namespace. */
  hostname?: string;
  /** Mounts, applied in order after the root filesystem. */
  mounts?: SpecMount[];
  /** Linux configuration. */
  linux?: SpecLinux;
  /** Free-form metadata for the runtime and tools. */
  annotations?: Record<string, string>;
}
