/**
 * Persistent Linux network namespaces for host agents, interoperable with iproute2's `ip netns`: a namespace
 * named `NAME` is the file `/run/netns/NAME` with the namespace bind-mounted on it, so `ip netns list`, `ip netns
 * exec` and berth see the same namespaces.
 *
 * {@link createNetns} creates one the way `ip netns add` does and returns a {@link Netns} handle (deleted by
 * `await using` when the scope ends); {@link deleteNetns} removes one like `ip netns delete` (idempotent, refusing
 * namespaces berth did not create unless forced); {@link execInNetns} / {@link spawnInNetns} run a command inside;
 * {@link sweepNetns} removes what crashed owners left behind, found by the owner markers berth writes under
 * {@link DEFAULT_STATE_DIR}.
 *
 * Inspecting: {@link inspectNetns} checks that a name or path really is a mounted *network*
 * namespace (not a leftover placeholder file, not a namespace of another type), {@link listNetns} lists the
 * directory and flags stale entries, {@link netnsOfPid} / {@link findNetnsOfPid} tell which namespace a process
 * is in, and {@link findTool} locates `ip`, `nsenter` and `unshare`. Every fallible function returns a neverthrow
 * `Result`/`ResultAsync` whose error is a {@link NetnsError}.
 *
 * Why work inside a namespace runs in a child process: a namespace belongs to a thread, and Node.js has no
 * binding for setns(2) or unshare(2). Even with a native addon, switching the main thread would not switch
 * libuv's thread pool (where DNS lookups and file I/O run), so one process would act in two namespaces at once,
 * and a thread left in the wrong namespace is a bug that is hard to see. So code that must run inside a
 * namespace runs in a child process started through `nsenter --net=PATH` (util-linux) or `ip netns exec NAME`
 * (iproute2): its namespace is set before it starts and goes away with it. Inspecting needs none of that: it
 * only reads files (stat, statfs, `/proc/self/mountinfo`).
 *
 * Creating and deleting in `/run/netns` goes through one resident `ip -force -batch -` process (iproute2) that
 * this process keeps for the purpose: `netns add NAME` / `netns del NAME` are lines on its stdin, so no process
 * is started per namespace. It starts on demand, is shared by concurrent callers, stops when idle (or at
 * {@link stopNetnsHelper}) and with this process, and if it dies the spawned util-linux tools take over (see
 * {@link createNetns}; `resident: false` opts out).
 *
 * Debug output: `DEBUG=berth:netns*` (`berth:netns` for namespaces created, inspected and deleted,
 * `berth:netns:exec` for commands run inside, `berth:netns:sweep` for sweeps, `berth:netns:tools` for tool lookups
 * and runs, `berth:netns:helper` for the resident `ip -batch` helper).
 *
 * @packageDocumentation
 */
export { type CreateNetnsOptions, createNetns, type NetnsEtcFiles } from "./create.js";
export { type DeleteNetnsOptions, deleteNetns } from "./delete.js";
export {
  type ErrnoContext,
  errnoOf,
  NetnsError,
  type NetnsErrorCode,
  type NetnsErrorOptions,
  netnsErrorFromErrno,
} from "./errors.js";
export {
  ETC_NETNS_DIR,
  type ExecInNetnsOptions,
  type ExecResult,
  type ExitStatus,
  execInNetns,
  type NetnsProcess,
  type SpawnInNetnsOptions,
  spawnInNetns,
} from "./exec.js";
export { Netns, type NetnsHandleInit, type OpenNetnsOptions, openNetns } from "./handle.js";
export {
  currentNetns,
  findNetnsOfPid,
  formatNetnsIdentity,
  type InspectOptions,
  inspectNetns,
  listNetns,
  type NetnsEntry,
  type NetnsIdentity,
  type NetnsInfo,
  NSFS_MAGIC,
  netnsOfPid,
  sameIdentity,
} from "./inspect.js";
export { HELPER_IDLE_MS, stopNetnsHelper } from "./ip-batch.js";
export { DEFAULT_NETNS_DIR, NETNS_NAME_MAX, netnsPath, validateNetnsName } from "./name.js";
export { DEFAULT_STATE_DIR, type OwnerMarker, type ProcessIdentity } from "./owner.js";
export { type JsonValue, runFunctionInNetns } from "./run-function.js";
export { type SweepNetnsOptions, type SweepReport, sweepNetns } from "./sweep.js";
export { type FindToolOptions, findTool, type NetnsTool, SYSTEM_TOOL_DIRS, TOOL_PACKAGES } from "./tools.js";
