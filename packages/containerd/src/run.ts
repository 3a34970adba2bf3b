import { randomBytes } from "node:crypto";
import createDebug from "debug";
import { err, errAsync, ok, okAsync, ResultAsync } from "neverthrow";
import type { Containerd } from "./client.js";
import { ContainerdError } from "./errors.js";
import { chainIds, hostPlatform, type Platform } from "./import.js";
import {
  buildSpec,
  encodeRuntime,
  type ImageRuntimeConfig,
  parseImageConfig,
  RUNC_V2_RUNTIME,
  type RuntimeConfig,
  rootfsFromMounts,
  type Spec,
  type SpecOpt,
  withImageConfig,
  withNetworkNamespacePath,
  withTty,
} from "./spec/index.js";
import { createFifoIO, type FifoIO } from "./stdio.js";
import type { ExitStatus, SignalLike, StdioPaths } from "./tasks.js";
import type { CallOptions } from "./transport.js";

const debug = createDebug("berth:containerd:run");

/** An image resolved for running: its config and the chain id of its unpacked top layer. */
export interface ResolvedImage {
  readonly name: string;
  /** Digest of the platform manifest. */
  readonly manifest: string;
  readonly config: ImageRuntimeConfig;
  /** Parent for a container snapshot (top layer's chain id); empty for an image without layers. */
  readonly chainId: string;
}

const MANIFEST_TYPES = new Set([
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
]);
const resolvedCache = new Map<string, ResolvedImage>();

/**
 * Reads an image's manifest (choosing `platform` in an index) and config from the content store.
 * Results are cached per namespace and target digest (content is immutable).
 */
export function resolveImage(
  client: Containerd,
  name: string,
  platform: Platform = hostPlatform(),
  options: CallOptions = {},
): ResultAsync<ResolvedImage, ContainerdError> {
  const namespace = options.namespace ?? client.namespace;
  return client.images.get(name, options).andThen((image) => {
    const key = `${client.endpoint.target}|${namespace}|${image.target.digest}|${platform.os}/${platform.architecture}`;
    const hit = resolvedCache.get(key);
    if (hit) return okAsync(hit);
    const json = (digest: string) =>
      client.content.readAll(digest, {}, options).andThen((buf) => {
        try {
          return ok(JSON.parse(buf.toString("utf8")) as Record<string, unknown>);
        } catch (e) {
          return err(
            new ContainerdError("InvalidArgument", `blob ${digest} of image ${name} is not JSON`, { cause: e }),
          );
        }
      });
    const manifestOf = (
      digest: string,
      mediaType: string,
    ): ResultAsync<{ digest: string; doc: Record<string, unknown> }, ContainerdError> =>
      json(digest).andThen((doc) => {
        const manifests = doc.manifests as { digest: string; mediaType: string; platform?: Platform }[] | undefined;
        if (!manifests || MANIFEST_TYPES.has(mediaType)) return okAsync({ digest, doc });
        const pick = manifests.find(
          (m) => !m.platform || (m.platform.os === platform.os && m.platform.architecture === platform.architecture),
        );
        if (!pick) {
          return errAsync(
            new ContainerdError("NotFound", `image ${name} has no ${platform.os}/${platform.architecture} manifest`, {
              resource: `image ${JSON.stringify(name)}`,
            }),
          );
        }
        return manifestOf(pick.digest, pick.mediaType);
      });
    return manifestOf(image.target.digest, image.target.mediaType).andThen(({ digest, doc }) => {
      const configDigest = (doc.config as { digest?: string } | undefined)?.digest;
      if (!configDigest)
        return errAsync(new ContainerdError("InvalidArgument", `manifest ${digest} of image ${name} has no config`));
      return json(configDigest).andThen((cfg) => {
        const parsed = parseImageConfig((cfg.config as object | undefined) ?? {});
        if (parsed.isErr()) return err(parsed.error);
        const diffIds = ((cfg.rootfs as { diff_ids?: string[] } | undefined)?.diff_ids ?? []) as string[];
        const resolved: ResolvedImage = {
          name,
          manifest: digest,
          config: parsed.value,
          chainId: chainIds(diffIds).at(-1) ?? "",
        };
        resolvedCache.set(key, resolved);
        return ok(resolved);
      });
    });
  });
}

/** What {@link createContainer} makes. */
export interface ContainerOptions extends CallOptions {
  /** Container id (also the snapshot key); random when unset. */
  readonly id?: string;
  /** Image name, already in containerd (see `importImage`). */
  readonly image: string;
  /** Replaces the image's Cmd (the entrypoint stays), like `ctr run IMAGE ID ARGS...`. */
  readonly args?: readonly string[];
  /** Joins this network namespace (a path such as `/var/run/netns/x`). */
  readonly netns?: string;
  /** Allocate a pty. */
  readonly terminal?: boolean;
  /** More spec options, applied after the image config (so they win). */
  readonly specOpts?: readonly SpecOpt[];
  /** Runtime (shim) and its options; `io.containerd.runc.v2` with defaults when unset. */
  readonly runtime?: RuntimeConfig;
  /** Snapshotter for the container's rootfs (default `overlayfs`). */
  readonly snapshotter?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
}

/** A container made by {@link createContainer}. */
export interface CreatedContainer {
  readonly id: string;
  readonly snapshotter: string;
  readonly spec: Spec;
  readonly image: ResolvedImage;
}

function randomId(): string {
  return `berth-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/**
 * The Go client's `NewContainer(WithNewSnapshot(id, image), WithNewSpec(WithImageConfig(image)))`:
 * under a lease, prepares a writable snapshot on the image's top layer and creates the container
 * record with the spec and runtime. On failure the snapshot is removed.
 */
export function createContainer(
  client: Containerd,
  options: ContainerOptions,
): ResultAsync<CreatedContainer, ContainerdError> {
  const {
    id = randomId(),
    image,
    args,
    netns,
    terminal,
    specOpts = [],
    runtime,
    snapshotter = "overlayfs",
    labels,
    platform,
    ...call
  } = options;
  const namespace = call.namespace ?? client.namespace;
  const encoded = encodeRuntime(runtime ?? { name: RUNC_V2_RUNTIME });
  if (encoded.isErr()) return errAsync(encoded.error);
  const snaps = client.snapshots(snapshotter);
  return resolveImage(client, image, platform, call).andThen((resolved) => {
    const opts: SpecOpt[] = [withImageConfig(resolved.config, args && args.length > 0 ? { args } : {})];
    if (netns !== undefined) opts.push(withNetworkNamespacePath(netns));
    if (terminal) opts.push(withTty());
    opts.push(...specOpts);
    return client.leases
      .withLease(
        (lease) => {
          const leased: CallOptions = { ...call, lease: lease.id };
          const cleanup = (e: ContainerdError) =>
            snaps
              .remove(id, call)
              .orElse(() => okAsync(undefined))
              .andThen(() => errAsync(e));
          return snaps.prepare(id, resolved.chainId, {}, leased).andThen((mounts) => {
            // The image's /etc/passwd and /etc/group are read from the snapshot's layers (no mount).
            const rootfs = rootfsFromMounts(mounts);
            const context = {
              namespace,
              id,
              ...(rootfs.isOk() ? { rootfs: rootfs.value } : {}),
              ...(call.signal ? { signal: call.signal } : {}),
            };
            return buildSpec(context, ...opts)
              .andThen((spec) =>
                client.containers
                  .create(
                    {
                      id,
                      image,
                      ...(labels ? { labels } : {}),
                      runtime: {
                        name: encoded.value.name,
                        ...(encoded.value.options ? { options: encoded.value.options } : {}),
                      },
                      spec,
                      snapshotter,
                      snapshotKey: id,
                    },
                    leased,
                  )
                  .map(() => spec),
              )
              .orElse(cleanup);
          });
        },
        { expiresInMs: 3600_000 },
        call,
      )
      .map((spec) => {
        debug("container %s from %s", id, image);
        return { id, snapshotter, spec, image: resolved };
      });
  });
}

/** How a task's stdio is wired. */
export type StdioChoice =
  /** FIFOs exposed as Node streams on {@link RunningTask.io}. */
  | { readonly kind: "pipe"; readonly stdin?: boolean }
  /** A log URI (`file:///abs/path`, `binary:///abs/path?k=v`) for stdout and stderr. */
  | { readonly kind: "log"; readonly uri: string }
  /** No stdio. */
  | { readonly kind: "none" };

/** Options of {@link startTask}. */
export interface TaskOptions extends CallOptions {
  readonly stdio?: StdioChoice;
  readonly terminal?: boolean;
  /** Snapshotter of the container's snapshot (default `overlayfs`). */
  readonly snapshotter?: string;
}

/**
 * A started task, with the Go client's order of operations: Wait was called before Start, so
 * {@link RunningTask.exited} never misses a fast exit.
 */
export interface RunningTask {
  readonly id: string;
  readonly pid: number;
  /** Streams, when started with `stdio: { kind: "pipe" }`. */
  readonly io: FifoIO | undefined;
  /** Settles when the task exits (the Wait started before Start). */
  readonly exited: ResultAsync<ExitStatus, ContainerdError>;
  kill(signal?: SignalLike, all?: boolean): ResultAsync<void, ContainerdError>;
}

/**
 * The Go client's NewTask + Wait + Start: mounts of the container's snapshot as rootfs, stdio
 * FIFOs (or a log URI), `Tasks.Create`, `Tasks.Wait` (before start), `Tasks.Start`. On failure
 * after create the task is deleted.
 */
export function startTask(
  client: Containerd,
  id: string,
  options: TaskOptions = {},
): ResultAsync<RunningTask, ContainerdError> {
  const { stdio = { kind: "pipe" }, terminal = false, snapshotter = "overlayfs", ...call } = options;
  const ioR: ResultAsync<FifoIO | undefined, ContainerdError> =
    stdio.kind === "pipe" ? createFifoIO({ id, stdin: stdio.stdin ?? false, terminal }) : okAsync(undefined);
  return ioR.andThen((io) => {
    const paths: StdioPaths =
      stdio.kind === "log" ? { stdout: stdio.uri, stderr: stdio.uri, terminal } : { ...(io?.paths ?? {}), terminal };
    const closeIo = () => (io ? ResultAsync.fromSafePromise(io.close()) : okAsync(undefined));
    return client
      .snapshots(snapshotter)
      .mounts(id, call)
      .andThen((rootfs) => client.tasks.create(id, { ...paths, rootfs }, call))
      .orElse((e) => closeIo().andThen(() => errAsync(e)))
      .andThen(() => {
        if (io) {
          const attached = io.attach();
          if (attached.isErr()) return errAsync(attached.error);
        }
        return okAsync(undefined);
      })
      .andThen(() => {
        // Wait before Start, as the Go client does: the exit cannot be missed.
        const { timeoutMs: _noDeadline, ...waitCall } = call;
        const exited = client.tasks.wait(id, "", waitCall);
        return client.tasks
          .start(id, "", call)
          .orElse((e) =>
            client.tasks
              .kill(id, "SIGKILL", { all: true }, call)
              .orElse(() => okAsync(undefined))
              .andThen(() => client.tasks.delete(id, call))
              .orElse(() => okAsync(undefined))
              .andThen(() => closeIo())
              .andThen(() => errAsync(e)),
          )
          .map((pid): RunningTask => {
            const stdin = io?.stdin;
            if (stdin) {
              // The shim holds its own writer on the stdin FIFO (so detaching does not send EOF):
              // once the caller ends stdin and it is flushed, close ours and ask the shim to close its.
              stdin.once("finish", () => {
                stdin.destroy();
                void client.tasks.closeIO(id, "", call);
              });
            }
            return {
              id,
              pid,
              io,
              exited,
              kill: (signal: SignalLike = "SIGTERM", all = false) => client.tasks.kill(id, signal, { all }, call),
            };
          });
      });
  });
}

/**
 * Tears down what {@link createContainer} + {@link startTask} made, in the Go client's order:
 * kill the task if it still runs (SIGKILL), wait, delete it (returning its exit status), delete
 * the container and its snapshot, close the stdio. Missing pieces are skipped.
 */
export function removeContainer(
  client: Containerd,
  id: string,
  options: CallOptions & { readonly snapshotter?: string; readonly io?: FifoIO } = {},
): ResultAsync<ExitStatus | undefined, ContainerdError> {
  const { snapshotter = "overlayfs", io, ...call } = options;
  const ignoreNotFound = <T>(r: ResultAsync<T, ContainerdError>): ResultAsync<T | undefined, ContainerdError> =>
    r.orElse((e) => (e.code === "NotFound" ? okAsync(undefined) : errAsync(e)));
  // As the Go client: a task that still runs cannot be deleted (the daemon answers Unknown), so
  // look at its state first and kill (SIGKILL, every process) and wait when needed.
  const stopIfRunning = (): ResultAsync<boolean, ContainerdError> =>
    client.tasks.get(id, "", call).andThen((state) => {
      if (state.status !== "running" && state.status !== "paused" && state.status !== "pausing") return okAsync(true);
      const { timeoutMs: _noDeadline, ...waitCall } = call;
      const waited = client.tasks.wait(id, "", waitCall);
      const thawed =
        state.status === "running"
          ? okAsync(undefined)
          : client.tasks.resume(id, call).orElse(() => okAsync(undefined));
      return thawed
        .andThen(() => client.tasks.kill(id, "SIGKILL", { all: true }, call))
        .orElse((k) => (k.code === "NotFound" ? okAsync(undefined) : errAsync(k)))
        .andThen(() => waited)
        .map(() => true);
    });
  const deleteTask = (): ResultAsync<ExitStatus | undefined, ContainerdError> =>
    stopIfRunning()
      .andThen(() => client.tasks.delete(id, call))
      .orElse((e) => (e.code === "NotFound" ? okAsync(undefined) : errAsync(e)));
  return deleteTask()
    .andThen((status) =>
      ignoreNotFound(client.containers.delete(id, call))
        .andThen(() => ignoreNotFound(client.snapshots(snapshotter).remove(id, call)))
        .map(() => (status ? { exitStatus: status.exitStatus, exitedAt: status.exitedAt } : undefined)),
    )
    .andThen((status) => (io ? ResultAsync.fromSafePromise(io.close()).map(() => status) : okAsync(status)));
}

/** Options of {@link runContainer}. */
export interface RunOptions extends ContainerOptions {
  readonly stdio?: StdioChoice;
}

/** A running container made by {@link runContainer}: its task plus the teardown. */
export interface RunningContainer extends RunningTask {
  readonly container: CreatedContainer;
  /** Tears everything down ({@link removeContainer}); returns the exit status. */
  remove(): ResultAsync<ExitStatus | undefined, ContainerdError>;
}

/**
 * Runs an image in a few lines: {@link createContainer} + {@link startTask}. Read
 * `io.stdout`/`io.stderr`, await `exited`, then `remove()`. On a failure after the container was
 * created, it is removed again.
 */
export function runContainer(client: Containerd, options: RunOptions): ResultAsync<RunningContainer, ContainerdError> {
  const { stdio, ...containerOptions } = options;
  const call: CallOptions = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
  };
  return createContainer(client, containerOptions).andThen((container) =>
    startTask(client, container.id, {
      ...call,
      ...(stdio ? { stdio } : {}),
      ...(options.terminal ? { terminal: true } : {}),
      snapshotter: container.snapshotter,
    })
      .orElse((e) =>
        removeContainer(client, container.id, { ...call, snapshotter: container.snapshotter })
          .orElse(() => okAsync(undefined))
          .andThen(() => errAsync(e)),
      )
      .map(
        (task): RunningContainer => ({
          ...task,
          container,
          remove: () =>
            removeContainer(client, container.id, {
              ...call,
              snapshotter: container.snapshotter,
              ...(task.io ? { io: task.io } : {}),
            }),
        }),
      ),
  );
}
