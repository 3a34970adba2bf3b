import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createContainerd, DEFAULT_CONTAINERD_ADDRESS } from "@berth/containerd";
import type { PullProgress } from "@berth/image";
import { type AttachEvent, attachTask } from "../../agent/attach.js";
import { localEnvironmentFiles } from "../../agent/environment-files.js";
import { type ImageSource, ociLayoutImages, registryImages } from "../../agent/images.js";
import {
  type AgentEvent,
  type AgentTask,
  DEFAULT_AGENT_STATE_DIR,
  DEFAULT_STOP_GRACE_MS,
  DEFAULT_TASK_BRIDGE,
  DEFAULT_TASK_SUBNET,
  runTask,
} from "../../agent/run-task.js";
import { fileSecrets } from "../../agent/secrets.js";
import {
  agentAlive,
  listTaskRecords,
  processStartTime,
  readTaskRecord,
  removeTaskRecord,
  TASK_RECORD_VERSION,
  type TaskRecord,
  writeTaskRecord,
} from "../../agent/state.js";
import { parseTaskDefinition } from "../../agent/task-definition.js";
import { type Command, parseCommandArgs } from "../command.js";

const DEFAULT_LOGGER = resolve(import.meta.dirname, "../../../../packages/log-shim/dist/bin/berth-logger.cjs");

const HELP = `usage: pnpm berth task run FILE.json [--detach] [options]   (an ECS task definition or a Kubernetes Pod, JSON)
       pnpm berth task ls [--state-dir DIR]
       pnpm berth task stop ID [--state-dir DIR] [--timeout-ms MS] [--address SOCK]
       pnpm berth task attach ID [--detach] [--state-dir DIR] [--address SOCK] [--grace-ms MS]
       pnpm berth task logs ID CONTAINER [--state-dir DIR]

Runs an ECS task definition (awsvpc) in the foreground as Fargate would: a network namespace, a CNI bridge
attachment, the images in containerd, a task metadata server, then the containers in dependsOn order. Output of
containers without a logConfiguration is streamed with a [name] prefix. Ctrl-C (or an essential container's exit)
stops the task and removes everything it made. With --detach the agent keeps running in the background (its
output in STATE_DIR/logs/ID.log) and the command prints the task id once the task runs; \`task ls\` lists running
tasks and \`task stop ID\` stops one (SIGTERM to its agent, which tears the task down). \`task logs ID CONTAINER\`
prints a running task's container output: its json-file log, or the lines the detached agent recorded for it.
The containers outlive their agent: \`task ls\` shows a task whose agent died as orphaned, \`task stop ID\` then
re-attaches to it and stops it, and \`task attach ID\` re-adopts it into a new agent (foreground, or with --detach
in the background), which restarts its metadata endpoint and stops it when an essential container exits.
  --detach        run the agent in the background and return once the task runs
  --task-id       the task id (default: the family plus random hex)
  --address       containerd socket (default $CONTAINERD_ADDRESS, then /run/containerd/containerd.sock; for stop and
                  attach: the one the task record names)
  --namespace     containerd namespace (default $CONTAINERD_NAMESPACE, then "berth-agent")
  --cni-path      CNI plugin directories, ':'-separated (default $CNI_PATH, then /opt/cni/bin:/usr/lib/cni)
  --bridge        host bridge (default ${DEFAULT_TASK_BRIDGE})
  --subnet        task subnet (default ${DEFAULT_TASK_SUBNET})
  --eni ADDR/PREFIX@GATEWAY
                  ENI mode instead of the bridge, e.g. 10.233.0.2/24@10.233.0.1: a veth pair whose task end the
                  host-device plugin moves into the namespace with static IPAM (the host end gets GATEWAY)
  --state-dir     per-task files, IPAM leases, CNI cache (default ${DEFAULT_AGENT_STATE_DIR})
  --image-layout  take images missing from containerd from this OCI layout (dir or tar) instead of registries
  --plain-http    a registry (host:port) to pull from over plain HTTP; repeatable
  --secrets-dir   resolve containers' secrets[].valueFrom as file names in this directory
  --env-files-dir resolve containers' environmentFiles[].value (arn:aws:s3:::bucket/key.env or a relative name) as
                  files in this directory
  --logger        berth-logger binary for json-file logs (default: the repository's log-shim build)
  --logger-server socket of a resident berth-logger (berth-logger serve --socket PATH) the loggers hand their
                  pipes to; standalone loggers when nothing answers there
  --snapshotter   snapshotter (default overlayfs)
  --grace-ms      SIGTERM-to-SIGKILL grace period on stop (default ${DEFAULT_STOP_GRACE_MS}; for attach: the task's own)`;

const MB = 1024 * 1024;

const reportedBlobs = new Set<string>();

/** One line per pull milestone: resolved digest, plan, each layer downloaded and unpacked; bytes in flight are not. */
function describePull(image: string, p: PullProgress): string | undefined {
  const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);
  switch (p.type) {
    case "resolved":
      return `pull ${image}: resolved ${p.digest}`;
    case "plan":
      return `pull ${image}: ${p.blobs.length} blobs, ${(p.totalBytes / MB).toFixed(1)} MB to fetch`;
    case "blob":
      // A blob containerd already holds is reported `exists` and then `done`: one line per blob.
      if (p.state !== "done" && p.state !== "exists") return undefined;
      if (reportedBlobs.has(`${image} ${p.digest}`)) return undefined;
      reportedBlobs.add(`${image} ${p.digest}`);
      return `pull ${image}: ${short(p.digest)} ${p.state === "done" ? "downloaded" : "already present"} (${(p.size / MB).toFixed(1)} MB; ${(p.completedBytes / MB).toFixed(1)}/${(p.totalBytes / MB).toFixed(1)} MB)`;
    case "unpack":
      return p.state === "unpacked" ? `pull ${image}: layer ${p.index} unpacked in ${p.ms ?? 0} ms` : undefined;
    case "delegated":
      return `pull ${image}: handed to ${p.target}`;
    case "phase":
      return undefined;
  }
}

function describe(e: AgentEvent | AttachEvent): string | undefined {
  switch (e.kind) {
    case "pull":
      return describePull(e.image, e.progress);
    case "network":
      return `network: ${e.netns}, address ${e.ip} (gateway ${e.gateway})`;
    case "images":
      return `images ready in ${e.ms} ms: ${e.images.join(", ")}`;
    case "metadata":
      return `metadata server on ${e.url}`;
    case "started":
      return `started ${e.container} (pid ${e.pid})`;
    case "exited":
      return `${e.container} exited with ${e.exitCode}${e.essential ? " (essential)" : ""}`;
    case "health":
      return `${e.container} is ${e.status}`;
    case "found":
      return `found ${e.container}: ${
        e.observed.status === "running"
          ? `running (pid ${e.observed.pid})`
          : e.observed.status === "exited"
            ? `exited with ${e.observed.exitCode}`
            : "missing"
      }`;
    case "lost":
      return `note: ${e.what}`;
    case "stopping":
      return `stopping: ${e.reason}`;
    case "stopped":
      return "stopped; everything removed";
  }
}

async function run(args: readonly string[]): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    {
      address: { type: "string" },
      namespace: { type: "string" },
      "cni-path": { type: "string" },
      bridge: { type: "string" },
      subnet: { type: "string" },
      eni: { type: "string" },
      "state-dir": { type: "string" },
      "image-layout": { type: "string" },
      "plain-http": { type: "string", multiple: true },
      logger: { type: "string" },
      "logger-server": { type: "string" },
      "secrets-dir": { type: "string" },
      "env-files-dir": { type: "string" },
      snapshotter: { type: "string", default: "overlayfs" },
      "grace-ms": { type: "string" },
      detach: { type: "boolean", default: false },
      "task-id": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    HELP,
  );
  if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
  const v = parsed.values;
  const stateDir = v["state-dir"] ?? DEFAULT_AGENT_STATE_DIR;
  const [file, ...extra] = parsed.positionals;
  if (file === undefined || extra.length > 0) {
    console.error(`berth: task run needs exactly one FILE.json\n\n${HELP}`);
    return 2;
  }
  const graceMs = v["grace-ms"] === undefined ? DEFAULT_STOP_GRACE_MS : Number(v["grace-ms"]);
  if (!Number.isInteger(graceMs) || graceMs < 0) {
    console.error(`berth: --grace-ms must be a whole number of milliseconds, not ${v["grace-ms"]}`);
    return 2;
  }
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    console.error(`berth: cannot read ${file}: ${(e as Error).message}`);
    return 1;
  }
  // A Kubernetes Pod ("kind": "Pod", JSON) runs through the same task model: agent/pod-spec.ts converts it.
  const { parseTaskFile } = await import("../../agent/pod-spec.js");
  const def = /"kind"\s*:\s*"Pod"/.test(text) ? parseTaskFile(text) : parseTaskDefinition(text);
  if (!def.ok) {
    console.error(`berth: ${file}: ${def.error.message}`);
    return 1;
  }
  if (v["task-id"] !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/.test(v["task-id"])) {
    console.error(`berth: --task-id must be 1-41 letters, digits, '_', '.' or '-', starting with a letter or digit`);
    return 2;
  }
  const eniMatch = v.eni === undefined ? undefined : /^([\d.]+\/\d{1,2})@([\d.]+)$/.exec(v.eni);
  if (v.eni !== undefined && !eniMatch) {
    console.error(`berth: --eni must be ADDRESS/PREFIX@GATEWAY, e.g. 10.233.0.2/24@10.233.0.1, not ${v.eni}`);
    return 2;
  }
  await warnOrphans(stateDir);
  if (v.detach) return detach(args, def.value.family, v["task-id"], stateDir);
  const created = createContainerd({
    ...(v.address === undefined ? {} : { address: v.address }),
    namespace: v.namespace ?? process.env.CONTAINERD_NAMESPACE ?? "berth-agent",
    timeoutMs: 120_000,
  });
  if (created.isErr()) {
    console.error(`berth: ${created.error.message}`);
    return 2;
  }
  await using client = created.value;
  const images: ImageSource =
    v["image-layout"] !== undefined
      ? ociLayoutImages(resolve(v["image-layout"]))
      : registryImages({ plainHttp: v["plain-http"] ?? [] });
  const logger = v.logger ?? DEFAULT_LOGGER;
  const controller = new AbortController();
  let stopRequested: (() => void) | undefined;
  const onSignal = () => {
    if (stopRequested) stopRequested();
    else controller.abort(new Error("interrupted"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const say = (line: string) => console.error(`berth task: ${line}`);
  const life: AgentLife = { stopping: false };
  try {
    const started = await runTask(def.value, {
      containerd: client,
      cniPath: v["cni-path"] ?? process.env.CNI_PATH ?? "/opt/cni/bin:/usr/lib/cni",
      images,
      snapshotter: v.snapshotter,
      stopGraceMs: graceMs,
      signal: controller.signal,
      ...(existsSync(logger) ? { loggerBinary: logger } : {}),
      ...(v["logger-server"] === undefined ? {} : { loggerServer: resolve(v["logger-server"]) }),
      ...(v["secrets-dir"] === undefined ? {} : { secrets: fileSecrets(resolve(v["secrets-dir"])) }),
      ...(v["env-files-dir"] === undefined
        ? {}
        : { environmentFiles: localEnvironmentFiles(resolve(v["env-files-dir"])) }),
      ...(v.bridge === undefined ? {} : { bridge: v.bridge }),
      ...(v.subnet === undefined ? {} : { subnet: v.subnet }),
      stateDir,
      ...(eniMatch ? { eni: { address: eniMatch[1] ?? "", gateway: eniMatch[2] ?? "" } } : {}),
      ...(v["task-id"] === undefined ? {} : { taskId: v["task-id"] }),
      onEvent: onAgentEvent(life, say),
      onOutput: printOutput,
    });
    if (!started.ok) {
      console.error(`berth: ${started.error.message}`);
      return 1;
    }
    const task = started.value;
    say(`task ${task.id} running (${task.arn}); Ctrl-C stops it`);
    for (const c of task.containers) if (c.logPath) say(`${c.name} logs to ${c.logPath}`);
    stopRequested = () => void task.stop({ reason: "interrupted" });
    const address = v.address ?? process.env.CONTAINERD_ADDRESS ?? DEFAULT_CONTAINERD_ADDRESS;
    return await serveTask(task, stateDir, new Date().toISOString(), address, say, life);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Starts this same command without --detach as a background process and waits until its task runs. */
async function detach(
  args: readonly string[],
  family: string,
  taskId: string | undefined,
  stateDir: string,
): Promise<number> {
  const id = taskId ?? `${family.slice(0, 32)}-${randomBytes(4).toString("hex")}`;
  const childArgs = [...args.filter((a) => a !== "--detach"), ...(taskId === undefined ? ["--task-id", id] : [])];
  return spawnAgent(["run", ...childArgs], id, stateDir, (record) => record !== undefined);
}

/**
 * Starts `task SUBCOMMAND...` as a background agent (output appended to STATE_DIR/logs/ID.log) and waits until
 * `ready` says the task record shows it runs the task; prints the id then.
 */
async function spawnAgent(
  taskArgs: readonly string[],
  id: string,
  stateDir: string,
  ready: (record: TaskRecord | undefined, pid: number) => boolean,
): Promise<number> {
  const logs = join(stateDir, "logs");
  await mkdir(logs, { recursive: true });
  const log = join(logs, `${id}.log`);
  const fd = openSync(log, "a");
  const before = (await readFile(log, "utf8").catch(() => "")).length;
  const script = process.argv[1] ?? "";
  const child = spawn(process.execPath, [...process.execArgv, script, "task", ...taskArgs], {
    detached: true,
    stdio: ["ignore", fd, fd],
    env: { ...process.env, BERTH_AGENT_LOG: log },
  });
  closeSync(fd);
  let exitCode: number | null = null;
  child.once("exit", (code) => {
    exitCode = code ?? 1;
  });
  const output = async () => (await readFile(log, "utf8").catch(() => "")).slice(before);
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    const record = await readTaskRecord(stateDir, id);
    if (record.ok && ready(record.value, child.pid ?? -1)) {
      child.unref();
      console.log(id);
      return 0;
    }
    if (exitCode !== null) {
      if (exitCode === 0 && taskArgs[0] === "attach") {
        // The task had ended while no agent ran: the new agent cleaned it up and is done.
        console.error(await output());
        return 0;
      }
      console.error(`berth: the task's agent exited with ${exitCode} before the task ran:\n${await output()}`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGTERM");
  console.error(`berth: task ${id}'s agent did not get it running within 5 minutes; see ${log}`);
  return 1;
}

function printOutput(name: string, stream: "stdout" | "stderr", chunk: Buffer): void {
  const out = stream === "stdout" ? process.stdout : process.stderr;
  for (const line of chunk.toString("utf8").split("\n")) if (line !== "") out.write(`[${name}] ${line}\n`);
}

/** Whether the agent's task has begun stopping (set from its "stopping" event). */
interface AgentLife {
  stopping: boolean;
  /** Called when a health status changes, once the task is served (the record is rewritten). */
  changed?: () => void;
}

/** Prints an agent event, noting when the task begins to stop. */
function onAgentEvent(life: AgentLife, say: (line: string) => void): (e: AgentEvent | AttachEvent) => void {
  return (e) => {
    if (e.kind === "stopping") life.stopping = true;
    const line = describe(e);
    if (line !== undefined) say(line);
    if (e.kind === "health") life.changed?.();
  };
}

/**
 * The agent's life with a running task: keeps the task record (with what re-attaching needs) current until the task
 * stops, then stops it and removes the record. Returns the command's exit code.
 */
async function serveTask(
  task: AgentTask,
  stateDir: string,
  startedAt: string,
  containerdAddress: string,
  say: (line: string) => void,
  life: AgentLife,
): Promise<number> {
  const startTime = processStartTime(process.pid);
  let writes: Promise<void> = Promise.resolve();
  const save = () => {
    writes = writes.then(async () => {
      // Once the task stops, its teardown owns (and finally removes) the record.
      if (life.stopping) return;
      const recorded = await writeTaskRecord(stateDir, {
        version: TASK_RECORD_VERSION,
        id: task.id,
        arn: task.arn,
        family: task.family,
        ip: task.ip,
        netns: task.netnsPath,
        pid: process.pid,
        ...(startTime === undefined ? {} : { agentStartTime: startTime }),
        ...(process.env.BERTH_AGENT_LOG === undefined ? {} : { log: process.env.BERTH_AGENT_LOG }),
        containerdAddress,
        startedAt,
        runtime: task.runtime(),
      });
      if (!recorded.ok) say(`${recorded.error.message} (task ls / stop / attach will not see this task as it is)`);
    });
    return writes;
  };
  await save();
  // Each exit and health change alters the task's metadata state: record it, so a re-attach serves what this agent
  // did.
  for (const c of task.containers) void c.exited.then(() => save());
  life.changed = () => void save();
  const reason = await task.done;
  await writes;
  const stopped = await task.stop({ reason });
  await removeTaskRecord(stateDir, task.id);
  if (!stopped.ok) {
    console.error(`berth: ${stopped.error.message}`);
    return 1;
  }
  return 0;
}

/** Says which recorded tasks have lost their agent, and how to take them over. */
async function warnOrphans(stateDir: string): Promise<void> {
  const records = await listTaskRecords(stateDir);
  for (const r of records.ok ? records.value : []) {
    if (agentAlive(r)) continue;
    console.error(
      `berth task: task ${r.id} is orphaned (its agent, pid ${r.pid}, is gone): ` +
        `\`pnpm berth task attach ${r.id}\` re-adopts it, \`pnpm berth task stop ${r.id}\` stops it`,
    );
  }
}

/** A containerd client for a recorded task: its recorded socket and namespace unless the flags say otherwise. */
function clientFor(record: TaskRecord, address: string | undefined) {
  return createContainerd({
    address: address ?? record.containerdAddress ?? process.env.CONTAINERD_ADDRESS ?? DEFAULT_CONTAINERD_ADDRESS,
    namespace: record.runtime?.namespace ?? process.env.CONTAINERD_NAMESPACE ?? "berth-agent",
    timeoutMs: 120_000,
  });
}

async function ls(args: readonly string[]): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    { "state-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
    HELP,
  );
  if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
  const records = await listTaskRecords(parsed.values["state-dir"] ?? DEFAULT_AGENT_STATE_DIR);
  if (!records.ok) {
    console.error(`berth: ${records.error.message}`);
    return 1;
  }
  const rows = [["ID", "FAMILY", "IP", "AGENT", "STARTED"]];
  for (const r of records.value) {
    rows.push([r.id, r.family, r.ip, agentAlive(r) ? `pid ${r.pid}` : `orphaned (pid ${r.pid} gone)`, r.startedAt]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length))) ?? [];
  for (const row of rows)
    console.log(
      row
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    );
  return 0;
}

async function stop(args: readonly string[]): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    {
      "state-dir": { type: "string" },
      "timeout-ms": { type: "string" },
      address: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    HELP,
  );
  if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
  const [id, ...extra] = parsed.positionals;
  if (id === undefined || extra.length > 0) {
    console.error(`berth: task stop needs exactly one task ID (see \`pnpm berth task ls\`)\n\n${HELP}`);
    return 2;
  }
  const timeoutMs = Number(parsed.values["timeout-ms"] ?? DEFAULT_STOP_GRACE_MS + 60_000);
  if (!(timeoutMs > 0)) {
    console.error(`berth: --timeout-ms must be a positive number of milliseconds, not ${parsed.values["timeout-ms"]}`);
    return 2;
  }
  const stateDir = parsed.values["state-dir"] ?? DEFAULT_AGENT_STATE_DIR;
  const record = await readTaskRecord(stateDir, id);
  if (!record.ok) {
    console.error(`berth: ${record.error.message}`);
    return 1;
  }
  if (!record.value) {
    console.error(`berth: no running task ${JSON.stringify(id)} in ${stateDir} (see \`pnpm berth task ls\`)`);
    return 1;
  }
  const { pid } = record.value;
  if (!agentAlive(record.value)) {
    // Its agent died: take the task over in this process and stop it here.
    const say = (line: string) => console.error(`berth task: ${line}`);
    say(`the agent of task ${id} (pid ${pid}) is gone: re-attaching to stop it`);
    const created = clientFor(record.value, parsed.values.address);
    if (created.isErr()) {
      console.error(`berth: ${created.error.message}`);
      return 2;
    }
    await using client = created.value;
    const attached = await attachTask(id, {
      containerd: client,
      stateDir,
      onEvent: (e) => {
        const line = describe(e);
        if (line !== undefined) say(line);
      },
    });
    if (!attached.ok) {
      console.error(`berth: ${attached.error.message}`);
      return 1;
    }
    const stopped = await attached.value.stop({ reason: "task stop (its agent was gone)" });
    if (!stopped.ok) {
      console.error(`berth: ${stopped.error.message}`);
      return 1;
    }
    console.log(`stopped ${id}`);
    return 0;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (agentAlive(record.value) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (agentAlive(record.value)) {
    console.error(`berth: task ${id}'s agent (pid ${pid}) is still stopping after ${timeoutMs} ms`);
    return 1;
  }
  console.log(`stopped ${id}`);
  return 0;
}

async function attach(args: readonly string[]): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    {
      "state-dir": { type: "string" },
      address: { type: "string" },
      "grace-ms": { type: "string" },
      detach: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
    HELP,
  );
  if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
  const v = parsed.values;
  const [id, ...extra] = parsed.positionals;
  if (id === undefined || extra.length > 0) {
    console.error(`berth: task attach needs exactly one task ID (see \`pnpm berth task ls\`)\n\n${HELP}`);
    return 2;
  }
  const graceMs = v["grace-ms"] === undefined ? undefined : Number(v["grace-ms"]);
  if (graceMs !== undefined && (!Number.isInteger(graceMs) || graceMs < 0)) {
    console.error(`berth: --grace-ms must be a whole number of milliseconds, not ${v["grace-ms"]}`);
    return 2;
  }
  const stateDir = v["state-dir"] ?? DEFAULT_AGENT_STATE_DIR;
  const record = await readTaskRecord(stateDir, id);
  if (!record.ok || !record.value) {
    console.error(
      `berth: ${record.ok ? `no task ${JSON.stringify(id)} in ${stateDir} (see \`pnpm berth task ls\`)` : record.error.message}`,
    );
    return 1;
  }
  if (agentAlive(record.value)) {
    console.error(`berth: task ${id} still has its agent (pid ${record.value.pid}); there is nothing to re-attach`);
    return 1;
  }
  if (v.detach) {
    const childArgs = ["attach", ...args.filter((a) => a !== "--detach")];
    return spawnAgent(childArgs, id, stateDir, (r, childPid) => r?.pid === childPid);
  }
  const created = clientFor(record.value, v.address);
  if (created.isErr()) {
    console.error(`berth: ${created.error.message}`);
    return 2;
  }
  await using client = created.value;
  const say = (line: string) => console.error(`berth task: ${line}`);
  const life: AgentLife = { stopping: false };
  let stopRequested: (() => void) | undefined;
  const onSignal = () => stopRequested?.();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const attached = await attachTask(id, {
      containerd: client,
      stateDir,
      ...(graceMs === undefined ? {} : { stopGraceMs: graceMs }),
      onEvent: onAgentEvent(life, say),
      onOutput: printOutput,
    });
    if (!attached.ok) {
      console.error(`berth: ${attached.error.message}`);
      return 1;
    }
    const task = attached.value;
    stopRequested = () => void task.stop({ reason: "interrupted" });
    if (task.stopReason === undefined) say(`re-attached to task ${task.id} (${task.arn}); Ctrl-C stops it`);
    const address = v.address ?? record.value.containerdAddress ?? DEFAULT_CONTAINERD_ADDRESS;
    return await serveTask(task, stateDir, record.value.startedAt, address, say, life);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function logs(args: readonly string[]): Promise<number> {
  const parsed = parseCommandArgs(
    args,
    { "state-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
    HELP,
  );
  if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
  const [id, container, ...extra] = parsed.positionals;
  if (id === undefined || container === undefined || extra.length > 0) {
    console.error(`berth: task logs needs a task ID and a CONTAINER name\n\n${HELP}`);
    return 2;
  }
  const stateDir = parsed.values["state-dir"] ?? DEFAULT_AGENT_STATE_DIR;
  const record = await readTaskRecord(stateDir, id);
  if (!record.ok || !record.value) {
    console.error(
      `berth: ${record.ok ? `no running task ${JSON.stringify(id)} in ${stateDir}` : record.error.message}`,
    );
    return 1;
  }
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(container)) {
    console.error(`berth: ${JSON.stringify(container)} is not a container name`);
    return 2;
  }
  const jsonLog = await readFile(join(stateDir, "tasks", id, `${container}-json.log`), "utf8").catch(() => undefined);
  if (jsonLog !== undefined) {
    for (const line of jsonLog.split("\n")) {
      if (line === "") continue;
      try {
        const entry = JSON.parse(line) as { log?: string; stream?: string };
        (entry.stream === "stderr" ? process.stderr : process.stdout).write(entry.log ?? "");
      } catch {
        // a partly written last line
      }
    }
    return 0;
  }
  const agentLog =
    record.value.log === undefined ? undefined : await readFile(record.value.log, "utf8").catch(() => "");
  if (agentLog === undefined) {
    console.error(`berth: task ${id} runs in the foreground: its ${container} output is on that terminal`);
    return 1;
  }
  const prefix = `[${container}] `;
  for (const line of agentLog.split("\n")) if (line.startsWith(prefix)) console.log(line.slice(prefix.length));
  return 0;
}

export const taskCommand: Command = {
  summary:
    "run (task run FILE.json [--detach]), list (ls), stop (stop ID), re-adopt (attach ID), read logs (logs ID NAME) of ECS tasks",
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === "run") return run(rest);
    if (sub === "ls") return ls(rest);
    if (sub === "stop") return stop(rest);
    if (sub === "attach") return attach(rest);
    if (sub === "logs") return logs(rest);
    if (sub === "--help" || sub === "-h" || sub === "help") {
      console.log(HELP);
      return 0;
    }
    console.error(`berth: unknown task subcommand ${JSON.stringify(sub ?? "")}\n\n${HELP}`);
    return 2;
  },
};
