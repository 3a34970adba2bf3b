import { lstat, readdir } from "node:fs/promises";
import { join, posix } from "node:path";
import { err, errAsync, ok, ResultAsync } from "neverthrow";
import { ContainerdError } from "../errors.js";
import { editSpec, invalidOption, type SpecOpt } from "./build.js";
import type { LinuxDevice } from "./types.js";

// Directories under /dev that hold no device nodes a container should get (containerd's list).
const SKIPPED_DEV_DIRS = new Set(["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]);

const S_IFMT = 0o170000;
const S_IFBLK = 0o060000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;
const S_IFDIR = 0o040000;

/** Splits a Linux `dev_t` into major and minor numbers (glibc's `gnu_dev_major` / `gnu_dev_minor`). */
export function splitDeviceNumber(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xffff_f000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffff_ff00n);
  return { major: Number(major), minor: Number(minor) };
}

type NodeKind = "device" | "fifo" | "dir" | "other";

async function inspect(path: string): Promise<{ kind: NodeKind; device?: LinuxDevice }> {
  const st = await lstat(path, { bigint: true });
  const fmt = Number(st.mode) & S_IFMT;
  if (fmt === S_IFDIR) return { kind: "dir" };
  if (fmt === S_IFIFO) return { kind: "fifo" };
  if (fmt !== S_IFBLK && fmt !== S_IFCHR) return { kind: "other" };
  const { major, minor } = splitDeviceNumber(st.rdev);
  return {
    kind: "device",
    device: {
      path,
      type: fmt === S_IFBLK ? "b" : "c",
      major,
      minor,
      fileMode: Number(st.mode) & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
    },
  };
}

function deviceError(path: string, cause: unknown): ContainerdError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") {
    return new ContainerdError("NotFound", `device ${path} does not exist on the host`, {
      resource: `device ${path}`,
      cause,
    });
  }
  return new ContainerdError(
    "Unknown",
    `could not inspect device ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
    { resource: `device ${path}`, cause },
  );
}

/**
 * Describes the host device node at `path` (a character or block device; symlinks are not
 * followed), with its mode and owner, as containerd's `DeviceFromPath` does. `NotFound` when it
 * does not exist, `InvalidArgument` when it is not a device node.
 */
export function deviceFromPath(path: string): ResultAsync<LinuxDevice, ContainerdError> {
  return ResultAsync.fromPromise(inspect(path), (cause) => deviceError(path, cause)).andThen((r) =>
    r.device
      ? ok(r.device)
      : err(
          new ContainerdError("InvalidArgument", `${path} is not a character or block device`, {
            resource: `device ${path}`,
          }),
        ),
  );
}

async function walk(dir: string, containerDir: string, out: LinuxDevice[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const hostPath = join(dir, entry.name);
    const containerPath = posix.join(containerDir, entry.name);
    if (entry.isDirectory()) {
      if (SKIPPED_DEV_DIRS.has(entry.name)) continue;
      await walk(hostPath, containerPath, out);
      continue;
    }
    if (entry.name === "console") continue;
    let node: Awaited<ReturnType<typeof inspect>>;
    try {
      node = await inspect(hostPath);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw cause;
    }
    if (node.device) out.push({ ...node.device, path: containerPath });
  }
}

/**
 * Lists the device nodes under a host directory (default `/dev`), as containerd's `HostDevices`:
 * recursive, skipping `pts`, `shm`, `fd`, `mqueue`, the console, FIFOs and non-devices. Paths are
 * given as they will appear in the container (`containerDir`, default the same as `dir`).
 */
export function hostDevices(dir = "/dev", containerDir: string = dir): ResultAsync<LinuxDevice[], ContainerdError> {
  return ResultAsync.fromPromise(
    (async () => {
      const out: LinuxDevice[] = [];
      await walk(dir, containerDir, out);
      return out;
    })(),
    (cause) => deviceError(dir, cause),
  );
}

/**
 * Creates every host device node in the container (`ctr run --privileged` adds this to
 * {@link withPrivileged}). It does not change the device cgroup rules: combine it with
 * {@link withAllDevicesAllowed}, or use {@link withDevice} for single devices.
 */
export function withHostDevices(): SpecOpt {
  return (spec) =>
    hostDevices().map((devices) =>
      editSpec(spec, (d) => {
        d.linux ??= {};
        d.linux.devices = [...(d.linux.devices ?? []), ...devices];
      }),
    );
}

/**
 * Gives the container a host device (or every device under a host directory), with device cgroup
 * rules allowing `access` (default `rwm`) on each: containerd's `WithDevices`. The device appears at
 * `containerPath` (default: the host path).
 */
export function withDevice(hostPath: string, containerPath?: string, access = "rwm"): SpecOpt {
  return (spec) => {
    if (!/^[rwm]{1,3}$/.test(access))
      return err(invalidOption("withDevice", `access ${JSON.stringify(access)} is not r/w/m`));
    if (!posix.isAbsolute(hostPath) || (containerPath !== undefined && !posix.isAbsolute(containerPath))) {
      return err(invalidOption("withDevice", "device paths must be absolute"));
    }
    const found = ResultAsync.fromPromise(lstat(hostPath), (cause) => deviceError(hostPath, cause)).andThen((st) =>
      st.isDirectory()
        ? hostDevices(hostPath, containerPath ?? hostPath)
        : deviceFromPath(hostPath).map((dev) => [{ ...dev, path: containerPath ?? hostPath }]),
    );
    return found.andThen((devices) => {
      if (devices.length === 0) return errAsync(invalidOption("withDevice", `no device nodes under ${hostPath}`));
      return ok(
        editSpec(spec, (d) => {
          d.linux ??= {};
          d.linux.devices = [...(d.linux.devices ?? []), ...devices];
          d.linux.resources ??= {};
          d.linux.resources.devices = [
            ...(d.linux.resources.devices ?? []),
            ...devices.map((dev) => ({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access })),
          ];
        }),
      );
    });
  };
}
