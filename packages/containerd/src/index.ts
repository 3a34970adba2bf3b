/**
 * A typed containerd client over gRPC for host agents: connect to a daemon's socket, scope calls
 * to a namespace, and get every failure as a tagged {@link ContainerdError} inside a neverthrow
 * `Result`. Typed services (namespaces, containers, snapshots, images, content, leases, diff,
 * events, tasks), FIFO stdio as Node streams, the Go client's run sequence
 * ({@link runContainer}) and OCI layout import ({@link importImage}).
 *
 * Numbers: sizes, offsets, pids and exit statuses are `number` (exact below 2^53); metric
 * counters that can pass 2^53 are `bigint`; timestamps are `Date`.
 *
 * Debug output: `DEBUG=berth:containerd*` (add `GRPC_TRACE=all GRPC_VERBOSITY=DEBUG` for grpc-js's own).
 *
 * @packageDocumentation
 */
export { type ContainerdEndpoint, DEFAULT_CONTAINERD_ADDRESS, parseAddress } from "./address.js";
export {
  Containerd,
  type ContainerdOptions,
  createContainerd,
  DEFAULT_NAMESPACE,
  type PluginInfo,
  type ServerCapabilities,
  type ServerInfo,
  type ServerVersion,
} from "./client.js";
export {
  type Container,
  Containers,
  type ContainerUpdate,
  type NewContainer,
  type RuntimeChoice,
} from "./containers.js";
export {
  Content,
  type ContentInfo,
  type ContentStatus,
  WRITE_CHUNK_BYTES,
  type WriteOptions,
  type WriteResult,
  type WriteSource,
} from "./content.js";
export { Diff, type DiffOptions } from "./diff.js";
export { ContainerdError, type ContainerdErrorCode, type ContainerdErrorOptions } from "./errors.js";
export { type ContainerdEvent, type EventPayload, Events } from "./events.js";
export { validateIdentifier } from "./identifiers.js";
export { type Image, Images, type NewImage } from "./images.js";
export {
  chainIds,
  hostPlatform,
  IMAGE_NAME_ANNOTATION,
  type ImportedImage,
  type ImportOptions,
  importImage,
  type Platform,
  REF_NAME_ANNOTATION,
} from "./import.js";
export { GC_EXPIRE_LABEL, type Lease, type LeaseResource, Leases, type NewLease } from "./leases.js";
export { CGROUPS_V1_METRICS_TYPE, CGROUPS_V2_METRICS_TYPE, decodeMetrics, type TaskMetrics } from "./metrics.js";
export { type Namespace, Namespaces } from "./namespaces.js";
export { type OciLayoutSource, openOciLayout } from "./oci-layout.js";
export {
  type ContainerOptions,
  type CreatedContainer,
  createContainer,
  type ResolvedImage,
  type RunningContainer,
  type RunningTask,
  type RunOptions,
  removeContainer,
  resolveImage,
  runContainer,
  type StdioChoice,
  startTask,
  type TaskOptions,
} from "./run.js";
export { type SnapshotInfo, type SnapshotKind, Snapshots, type SnapshotUsage } from "./snapshots.js";
export * from "./spec/index.js";
export { createFifoIO, FifoIO, type FifoIOOptions } from "./stdio.js";
export {
  type ExitStatus,
  type NewExec,
  type NewTask,
  type ProcessState,
  type ProcessStatus,
  type SignalLike,
  type StdioPaths,
  signalNumber,
  Tasks,
} from "./tasks.js";
export { Transfer, type TransferPullOptions } from "./transfer.js";
export { type CallOptions, MAX_MESSAGE_BYTES } from "./transport.js";
export type { Descriptor, Labels } from "./types.js";
