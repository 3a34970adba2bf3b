/**
 * A typed containerd client over gRPC for host agents: connect to a daemon's socket, scope calls
 * to a namespace, and get every failure as a tagged {@link ContainerdError} inside a neverthrow
 * `Result`.
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
  type ServerVersion,
} from "./client.js";
export { ContainerdError, type ContainerdErrorCode, type ContainerdErrorOptions } from "./errors.js";
export { validateIdentifier } from "./identifiers.js";
export { type CallOptions, MAX_MESSAGE_BYTES } from "./transport.js";
