import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { bridgePlugin, type CniResult, createCni, hostLocalIpam, networkList, staticIpam } from "@berth/cni";
import {
  type Containerd,
  createContainer,
  type FifoIO,
  type RunningTask,
  removeContainer,
  type SpecOpt,
  type StdioChoice,
  startTask,
  withArgs,
  withBindMount,
  withCpuUnits,
  withCwd,
  withEnv,
  withHostname,
  withMemoryLimit,
  withReadonlyRootfs,
} from "@berth/containerd";
import type { PullProgress } from "@berth/image";
import { buildBerthLoggerUri } from "@berth/log-shim";
import {
  type ContainerState,
  containerMetadataEnv,
  createTaskRegistry,
  type MetadataServer,
  newEndpointId,
  startMetadataServer,
  type TaskState,
} from "@berth/metadata";
import { createNetns, deleteNetns, type Netns } from "@berth/netns";
import { type EnvironmentFileProvider, environmentFromFiles } from "./environment-files.js";
import { AgentError } from "./errors.js";
import {
  execHealthProbe,
  type HealthMonitor,
  type HealthState,
  type HealthStatus,
  healthCheckArgs,
  startHealthMonitor,
} from "./health.js";
import type { ImageSource } from "./images.js";
import { type AgentResult, err, ok } from "./result.js";
import type { SecretProvider } from "./secrets.js";
import type { TaskRuntime } from "./state.js";
import { type ContainerDefinition, startOrder, type TaskDefinition } from "./task-definition.js";
import { containerMounts, mountSpecOpts, prepareVolumes } from "./volumes.js";

/** The private subnet tasks get addresses from unless {@link AgentOptions.subnet} says otherwise. */
export const DEFAULT_TASK_SUBNET = "10.232.0.0/24";
/** The host bridge tasks are attached to unless {@link AgentOptions.bridge} says otherwise. */
export const DEFAULT_TASK_BRIDGE = "berth0";
/** Where the agent keeps per-task files (IPAM leases, logs) unless {@link AgentOptions.stateDir} says otherwise. */
export const DEFAULT_AGENT_STATE_DIR = "/run/berth/agent";
/** How long containers get between SIGTERM and SIGKILL on stop, as ECS's default `stopTimeout` (30 s). */
export const DEFAULT_STOP_GRACE_MS = 30_000;

/** Progress of a task, for a CLI or a log. */
export type AgentEvent =
  | { readonly kind: "network"; readonly netns: string; readonly ip: string; readonly gateway: string }
  | { readonly kind: "images"; readonly images: readonly string[]; readonly ms: number }
  /** Pull progress of one image (sources that download: per-layer bytes, phases, unpack). */
  | { readonly kind: "pull"; readonly image: string; readonly progress: PullProgress }
  | { readonly kind: "metadata"; readonly url: string }
  | { readonly kind: "started"; readonly container: string; readonly pid: number }
  | { readonly kind: "exited"; readonly container: string; readonly exitCode: number; readonly essential: boolean }
  | { readonly kind: "health"; readonly container: string; readonly status: HealthStatus }
  | { readonly kind: "stopping"; readonly reason: string }
  | { readonly kind: "stopped" };

/** What the agent runs tasks with. */
export interface AgentOptions {
  /** containerd client; tasks' containers go into its namespace. */
  readonly containerd: Containerd;
  /** CNI plugin directories, `:`-separated (needs `bridge`, `host-local`). */
  readonly cniPath: string;
  /** Gets each image into containerd (see `ociLayoutImages`, `registryImages`). */
  readonly images: ImageSource;
  /**
   * ENI mode instead of the bridge: the task gets `address` (e.g. `10.233.0.2/24`) on a veth end moved into its
   * namespace by the `host-device` plugin with `static` IPAM; the host end gets `gateway` (the metadata server's
   * address). The pair is created at start and deleted on stop.
   */
  readonly eni?: { readonly address: string; readonly gateway: string };
  /** Host bridge name (default {@link DEFAULT_TASK_BRIDGE}); created on first use, kept (shared by tasks). */
  readonly bridge?: string;
  /** Task subnet (default {@link DEFAULT_TASK_SUBNET}); the bridge gets its first address. */
  readonly subnet?: string;
  /** Per-task files, IPAM leases and the CNI cache (default {@link DEFAULT_AGENT_STATE_DIR}). */
  readonly stateDir?: string;
  /** Snapshotter for images and container root filesystems (default `overlayfs`). */
  readonly snapshotter?: string;
  /** Resolves containers' `secrets` (see `fileSecrets`); required when a container has secrets. */
  readonly secrets?: SecretProvider;
  /** Reads containers' `environmentFiles` (see `localEnvironmentFiles`); required when a container has some. */
  readonly environmentFiles?: EnvironmentFileProvider;
  /** Absolute path of the `berth-logger` binary, needed by containers with a `json-file` logConfiguration. */
  readonly loggerBinary?: string;
  /**
   * Socket of a resident berth-logger (`startBerthLoggerServer` in this process, or `berth-logger serve`): the
   * containers' loggers hand their pipes to it instead of starting Node each (`--server`; they run standalone when
   * nothing answers, and carry on standalone when it goes away).
   */
  readonly loggerServer?: string;
  /** Grace period between SIGTERM and SIGKILL when stopping (default {@link DEFAULT_STOP_GRACE_MS}). */
  readonly stopGraceMs?: number;
  /** The ECS cluster name reported in metadata (default `berth`). */
  readonly cluster?: string;
  /** Task id (default: family plus random hex). Also names the namespace and prefixes container ids. */
  readonly taskId?: string;
  /** Receives output of containers without a logConfiguration. */
  readonly onOutput?: (container: string, stream: "stdout" | "stderr", chunk: Buffer) => void;
  readonly onEvent?: (event: AgentEvent) => void;
  /** Aborts the start; whatever was set up is torn down again. */
  readonly signal?: AbortSignal;
}

/** One container of a running task. */
export interface AgentContainer {
  readonly name: string;
  /** containerd container (and task) id. */
  readonly id: string;
  readonly pid: number;
  readonly essential: boolean;
  /** Settles with the exit code when the container has exited and its output has been delivered. */
  readonly exited: Promise<number>;
  /** Where its logs go when it has a `json-file` logConfiguration. */
  readonly logPath?: string;
  /** Its current health when it has a `healthCheck` (checks stop when it exits or the task stops). */
  readonly health?: HealthState;
}

/** A task started by {@link runTask}. */
export interface AgentTask {
  readonly id: string;
  readonly arn: string;
  readonly family: string;
  /** The task's IPv4 address (its "ENI" address), without prefix. */
  readonly ip: string;
  readonly netnsPath: string;
  /** The metadata server's base URL; containers get `<url>/v4/<endpoint id>`. */
  readonly metadataUrl: string;
  readonly containers: readonly AgentContainer[];
  /** Settles with the reason once the task stops by itself (an essential container exited) or is stopped. */
  readonly done: Promise<string>;
  /** Stops the containers (SIGTERM, then SIGKILL after `graceMs`) and removes everything the task made. */
  stop(options?: { readonly graceMs?: number; readonly reason?: string }): Promise<AgentResult<void>>;
  /** What a new agent process needs to re-attach to this task and tear it down (see `attachTask`), as of now. */
  runtime(): TaskRuntime;
}

const MIB = 1024 * 1024;
const execFileAsync = promisify(execFile);

/** The gateway (first host address) of an IPv4 subnet like `10.232.0.0/24`. */
function firstHost(subnet: string): string {
  const [addr = ""] = subnet.split("/");
  const parts = addr.split(".").map(Number);
  parts[3] = (parts[3] ?? 0) + 1;
  return parts.join(".");
}

/** The network (`10.233.0.0/24`) of an IPv4 CIDR address (`10.233.0.2/24`), or undefined if it is not one. */
export function ipv4Network(cidr: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return undefined;
  const value = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const base = Math.floor(value / size) * size;
  return `${[24, 16, 8, 0].map((sh) => Math.floor(base / 2 ** sh) % 256).join(".")}/${prefix}`;
}

/** Runs `ip` with each argument list in turn; the first failure's message, or undefined. */
async function ipCommands(commands: readonly (readonly string[])[]): Promise<string | undefined> {
  for (const args of commands) {
    try {
      await execFileAsync("ip", [...args]);
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr?.trim();
      return `ip ${args.join(" ")}: ${stderr || (e as Error).message}`;
    }
  }
  return undefined;
}

function shortId(family: string): string {
  return `${family.slice(0, 40)}-${randomBytes(4).toString("hex")}`;
}

interface Teardown {
  readonly what: string;
  run(): Promise<string | undefined>;
}

/**
 * Runs a task as Fargate does: network namespace (lo up, resolv.conf, hosts) -> CNI bridge ADD -> images into
 * containerd in parallel -> metadata registration and environment -> containers in dependsOn order. On any
 * failure everything made so far is removed again and the error is returned.
 */
export async function runTask(def: TaskDefinition, options: AgentOptions): Promise<AgentResult<AgentTask>> {
  const client = options.containerd;
  const snapshotter = options.snapshotter ?? "overlayfs";
  const bridge = options.bridge ?? DEFAULT_TASK_BRIDGE;
  const stateDir = options.stateDir ?? DEFAULT_AGENT_STATE_DIR;
  const taskId = options.taskId ?? shortId(def.family);
  const arn = `arn:aws:ecs:local:000000000000:task/${options.cluster ?? "berth"}/${taskId}`;
  const taskDir = join(stateDir, "tasks", taskId);
  const signal = options.signal;
  const emit = options.onEvent ?? (() => {});
  const undo: Teardown[] = [];
  const cleanup = async (): Promise<string[]> => {
    const problems: string[] = [];
    for (const t of undo.splice(0).reverse()) {
      const problem = await t.run().catch((e: unknown) => String(e));
      if (problem !== undefined) problems.push(`${t.what}: ${problem}`);
    }
    return problems;
  };
  const fail = async (e: AgentError): Promise<AgentResult<AgentTask>> => {
    const problems = await cleanup();
    if (problems.length === 0) return err(e);
    return err(
      new AgentError(e.code, `${e.message} (and cleaning up failed: ${problems.join("; ")})`, {
        cause: e,
        ...(e.container === undefined ? {} : { container: e.container }),
      }),
    );
  };
  const aborted = () =>
    signal?.aborted
      ? new AgentError("Aborted", `starting task ${taskId} was aborted`, { cause: signal.reason })
      : undefined;

  await mkdir(taskDir, { recursive: true });
  undo.push({
    what: `remove ${taskDir}`,
    run: () => rm(taskDir, { recursive: true, force: true }).then(() => undefined),
  });

  // 0. Task storage: task-scoped volumes are directories under the task directory (removed with it on stop);
  //    host.sourcePath volumes must exist.
  const volumes = await prepareVolumes(def, taskDir);
  if (!volumes.ok) return fail(volumes.error);
  const volumePaths = volumes.value;

  // 1. The task's network namespace, with lo up and its own /etc files.
  const hostResolv = await readFile("/etc/resolv.conf", "utf8").catch(() => "nameserver 127.0.0.1\n");
  const netnsName = `berth-${taskId}`.slice(0, 60);
  const made = await createNetns(netnsName, {
    loopbackUp: true,
    ...(signal ? { signal } : {}),
    etc: { resolvConf: hostResolv, hosts: `127.0.0.1 localhost\n::1 localhost\n`, hostname: `${taskId}\n` },
  });
  if (made.isErr()) {
    return fail(
      new AgentError("NetworkFailed", `creating the network namespace: ${made.error.message}`, { cause: made.error }),
    );
  }
  const netns: Netns = made.value;
  undo.push({
    what: `delete network namespace ${netns.name}`,
    run: async () => {
      const r = await deleteNetns(netns.path);
      return r.isErr() ? r.error.message : undefined;
    },
  });

  // 2. CNI: either a bridge conflist with host-local IPAM, or the ENI stand-in: a veth pair made here whose task end
  //    the host-device plugin moves into the namespace with static IPAM, as Fargate moves the task's ENI. Both go
  //    through the same typed configuration path a vpc-eni config would take.
  const eni = options.eni;
  let eniHost: string | undefined; // recorded for re-attach (attach.ts)
  let subnet = options.subnet ?? DEFAULT_TASK_SUBNET;
  let list: ReturnType<typeof networkList>;
  if (eni) {
    const net = ipv4Network(eni.address);
    if (!net) {
      return fail(
        new AgentError("NetworkFailed", `eni.address ${eni.address} is not an IPv4 CIDR such as 10.233.0.2/24`),
      );
    }
    subnet = net;
    const suffix = randomBytes(4).toString("hex");
    const hostEnd = `bh${suffix}`;
    const taskEnd = `be${suffix}`;
    eniHost = hostEnd;
    const prefix = eni.address.split("/")[1] ?? "24";
    const made = await ipCommands([
      ["link", "add", hostEnd, "type", "veth", "peer", "name", taskEnd],
      ["addr", "add", `${eni.gateway}/${prefix}`, "dev", hostEnd],
      ["link", "set", hostEnd, "up"],
    ]);
    // Deleting the host end removes the pair, wherever the task end is by then.
    undo.push({ what: `delete the ENI stand-in ${hostEnd}`, run: () => ipCommands([["link", "del", hostEnd]]) });
    if (made !== undefined) return fail(new AgentError("NetworkFailed", `creating the ENI stand-in: ${made}`));
    list = networkList({
      name: "berth-eni",
      cniVersion: "1.0.0",
      plugins: [
        {
          type: "host-device",
          device: taskEnd,
          ipam: staticIpam({ addresses: [{ address: eni.address, gateway: eni.gateway }] }),
        },
      ],
    });
  } else {
    list = networkList({
      name: `berth-${bridge}`,
      cniVersion: "1.0.0",
      plugins: [
        bridgePlugin({
          bridge,
          isGateway: true,
          ipam: hostLocalIpam({ subnets: [subnet], dataDir: join(stateDir, "ipam") }),
        }),
      ],
    });
  }
  if (list.isErr()) return fail(new AgentError("NetworkFailed", list.error.message, { cause: list.error }));
  const cni = createCni({ cniPath: options.cniPath, cacheDir: join(stateDir, "cni-cache") });
  const attachment = { containerId: taskId, netns: netns.path, ifName: "eth0" };
  const added = await cni.add(list.value, attachment, { ...(signal ? { signal } : {}), timeoutMs: 60_000 });
  if (added.isErr()) {
    return fail(new AgentError("NetworkFailed", `CNI ADD: ${added.error.message}`, { cause: added.error }));
  }
  undo.push({
    what: "CNI DEL",
    run: async () => {
      const r = await cni.del(list.value, attachment, { timeoutMs: 60_000 });
      return r.isErr() ? r.error.message : undefined;
    },
  });
  const result: CniResult = added.value;
  const ipConfig = result.ips?.find((i) => !i.address.includes(":"));
  if (!ipConfig) return fail(new AgentError("NetworkFailed", `CNI ADD gave the task no IPv4 address`));
  const ip = ipConfig.address.split("/")[0] ?? "";
  const gateway = ipConfig.gateway ?? firstHost(subnet);
  emit({ kind: "network", netns: netns.path, ip, gateway });
  const abortedAfterNet = aborted();
  if (abortedAfterNet) return fail(abortedAfterNet);

  // 3. Every image into containerd, in parallel.
  const images = [...new Set(def.containerDefinitions.map((c) => c.image))];
  const pullStarted = new Date();
  const fetched = await Promise.all(
    images.map((image) =>
      options.images(client, image, {
        snapshotter,
        ...(signal ? { signal } : {}),
        onProgress: (progress) => emit({ kind: "pull", image, progress }),
      }),
    ),
  );
  const badImage = fetched.find((r) => !r.ok);
  if (badImage && !badImage.ok) return fail(badImage.error);
  const pullStopped = new Date();
  emit({ kind: "images", images, ms: pullStopped.getTime() - pullStarted.getTime() });
  const imageIds = new Map<string, string>();
  for (const image of images) {
    const got = await client.images.get(image);
    imageIds.set(image, got.isOk() ? got.value.target.digest : "");
  }

  // 4. Metadata: a server on the bridge gateway (reachable from the namespace), the task registered with one
  //    endpoint id per container.
  const registry = createTaskRegistry();
  const served = await startMetadataServer({ provider: registry, host: gateway, port: 0 });
  if (served.isErr()) {
    return fail(new AgentError("MetadataFailed", served.error.message, { cause: served.error }));
  }
  const server: MetadataServer = served.value;
  undo.push({
    what: "close the metadata server",
    run: async () => {
      registry.clear();
      const r = await server.close();
      return r.isErr() ? r.error.message : undefined;
    },
  });
  emit({ kind: "metadata", url: server.url });
  const containerId = (c: ContainerDefinition) => `${taskId}-${c.name}`;
  const network = {
    mode: "awsvpc",
    ipv4Addresses: [ip],
    attachmentIndex: 0,
    ipv4SubnetCidrBlock: subnet,
    subnetGatewayIpv4Address: `${gateway}/${subnet.split("/")[1] ?? "24"}`,
    domainNameServers: [...hostResolv.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1] ?? ""),
  };
  const containerStates: ContainerState[] = def.containerDefinitions.map((c) => ({
    runtimeId: containerId(c),
    name: c.name,
    runtimeName: containerId(c),
    image: c.image,
    imageId: imageIds.get(c.image) ?? "",
    desiredStatus: "RUNNING",
    knownStatus: "PULLED",
    type: "NORMAL",
    ports: c.portMappings.map((p) => ({ containerPort: p.containerPort, hostPort: p.hostPort, protocol: p.protocol })),
    limits: { ...(c.cpu === undefined ? {} : { cpu: c.cpu }), ...(c.memory === undefined ? {} : { memory: c.memory }) },
    ...(c.logConfiguration ? { logDriver: c.logConfiguration.logDriver, logOptions: c.logConfiguration.options } : {}),
    networks: [network],
    snapshotter,
    ...(c.healthCheck ? { health: { status: "UNKNOWN" as const } } : {}),
    volumes: containerMounts(def, c.name, volumePaths).map((m) => ({
      name: m.volume,
      source: m.source,
      destination: m.destination,
    })),
  }));
  const endpoints: Record<string, string> = {};
  for (const c of containerStates) endpoints[c.runtimeId] = newEndpointId();
  const taskState: TaskState = {
    cluster: options.cluster ?? "berth",
    arn,
    family: def.family,
    revision: def.revision,
    desiredStatus: "RUNNING",
    knownStatus: "MANIFEST_PULLED",
    limits: {
      ...(def.cpu === undefined ? {} : { cpu: def.cpu / 1024 }),
      ...(def.memory === undefined ? {} : { memory: def.memory }),
    },
    pullStartedAt: pullStarted,
    pullStoppedAt: pullStopped,
    launchType: "FARGATE",
    networks: [network],
    containers: containerStates,
  };
  const registered = registry.registerTask(taskState, endpoints);
  if (registered.isErr()) {
    return fail(new AgentError("MetadataFailed", registered.error.message, { cause: registered.error }));
  }

  // 5. Containers in dependsOn order, in the namespace.
  const byName = new Map(def.containerDefinitions.map((c) => [c.name, c]));
  const running = new Map<string, AgentContainer>();
  const tasks = new Map<string, { task: RunningTask; io: FifoIO | undefined; pumps: Promise<void>[] }>();
  const monitors = new Map<string, HealthMonitor>();
  const reportHealth = (runtimeId: string, health: HealthState) => {
    registry.updateContainer(arn, runtimeId, { health });
  };
  let stopping: Promise<AgentResult<void>> | undefined;
  let resolveDone: (reason: string) => void = () => {};
  const done = new Promise<string>((r) => {
    resolveDone = r;
  });
  let stopTask: AgentTask["stop"] = async () => ok(undefined);

  const removeOne = (c: ContainerDefinition): Teardown => ({
    what: `remove container ${containerId(c)}`,
    run: async () => {
      const t = tasks.get(c.name);
      const r = await removeContainer(client, containerId(c), { snapshotter, ...(t?.io ? { io: t.io } : {}) });
      // Output still buffered is delivered before the streams close; never wait on them for long.
      if (t) await Promise.race([Promise.allSettled(t.pumps), new Promise((r) => setTimeout(r, 2000).unref())]);
      return r.isErr() ? r.error.message : undefined;
    },
  });

  for (const name of startOrder(def.containerDefinitions)) {
    const c = byName.get(name);
    if (!c) continue;
    for (const d of c.dependsOn) {
      const dep = running.get(d.containerName);
      if (!dep) {
        return fail(
          new AgentError("DependencyFailed", `${c.name} depends on ${d.containerName}, which did not start`, {
            container: c.name,
          }),
        );
      }
      if (d.condition === "START") continue;
      if (d.condition === "HEALTHY") {
        const monitor = monitors.get(d.containerName);
        const healthy = monitor
          ? await monitor.waitHealthy(dep.exited, signal)
          : err(new AgentError("DependencyFailed", `${d.containerName} has no health check`));
        if (!healthy.ok) {
          const e = healthy.error;
          return fail(
            e.code === "Aborted"
              ? e
              : new AgentError(
                  "DependencyFailed",
                  `${c.name} needs ${d.containerName} to be HEALTHY, but ${e.message}`,
                  {
                    container: c.name,
                    cause: e,
                  },
                ),
          );
        }
        continue;
      }
      const code = await dep.exited;
      if (d.condition === "SUCCESS" && code !== 0) {
        return fail(
          new AgentError(
            "DependencyFailed",
            `${c.name} needs ${d.containerName} to succeed, but it exited with ${code}`,
            { container: c.name },
          ),
        );
      }
    }
    const abortedNow = aborted();
    if (abortedNow) return fail(abortedNow);
    const id = containerId(c);
    const endpointId = endpoints[id] ?? "";
    const metaEnv = containerMetadataEnv({ endpointId, baseUrl: server.url });
    if (metaEnv.isErr()) return fail(new AgentError("MetadataFailed", metaEnv.error.message, { cause: metaEnv.error }));
    const secretEnv: string[] = [];
    for (const secret of c.secrets) {
      if (!options.secrets) {
        return fail(
          new AgentError("ContainerFailed", `${c.name} has secrets but the agent was given no secret provider`, {
            container: c.name,
          }),
        );
      }
      const value = await options.secrets(secret.valueFrom, signal ? { signal } : {});
      if (!value.ok) return fail(value.error);
      secretEnv.push(`${secret.name}=${value.value}`);
    }
    // Environment files first: the container's own environment (and the agent's variables) override them.
    const fileEnv: string[] = [];
    if (c.environmentFiles.length > 0) {
      if (!options.environmentFiles) {
        return fail(
          new AgentError(
            "ContainerFailed",
            `${c.name} has environmentFiles but the agent was given no environment-file provider`,
            { container: c.name },
          ),
        );
      }
      const vars = await environmentFromFiles(c.environmentFiles, options.environmentFiles, signal ? { signal } : {});
      if (!vars.ok) {
        return fail(
          new AgentError("ContainerFailed", `${c.name}: ${vars.error.message}`, {
            container: c.name,
            cause: vars.error,
          }),
        );
      }
      for (const [k, v] of vars.value) fileEnv.push(`${k}=${v}`);
    }
    const etc = join("/etc/netns", netns.name);
    const specOpts: SpecOpt[] = [
      withEnv([
        ...fileEnv,
        ...c.environment.map(([k, v]) => `${k}=${v}`),
        ...Object.entries(metaEnv.value).map(([k, v]) => `${k}=${v}`),
        ...secretEnv,
      ]),
      withHostname(taskId),
      withBindMount({ source: join(etc, "resolv.conf"), destination: "/etc/resolv.conf", readonly: true }),
      withBindMount({ source: join(etc, "hosts"), destination: "/etc/hosts", readonly: true }),
      ...mountSpecOpts(containerMounts(def, c.name, volumePaths)),
    ];
    if (c.readonlyRootFilesystem) specOpts.push(withReadonlyRootfs());
    if (c.entryPoint) specOpts.push(withArgs(...c.entryPoint, ...(c.command ?? [])));
    if (c.workingDirectory) specOpts.push(withCwd(c.workingDirectory));
    if (c.cpu !== undefined) specOpts.push(withCpuUnits(c.cpu));
    const memory = c.memory ?? (def.containerDefinitions.length === 1 ? def.memory : undefined);
    if (memory !== undefined) specOpts.push(withMemoryLimit(memory * MIB));

    let stdio: StdioChoice = { kind: "pipe" };
    let logPath: string | undefined;
    const lc = c.logConfiguration;
    if (lc) {
      if (lc.logDriver !== "json-file") {
        return fail(
          new AgentError("ContainerFailed", `${c.name}: logDriver ${lc.logDriver} is not supported: use json-file`, {
            container: c.name,
          }),
        );
      }
      if (options.loggerBinary === undefined) {
        return fail(
          new AgentError(
            "ContainerFailed",
            `${c.name} logs to json-file, which needs berth-logger: build it (pnpm --filter @berth/log-shim build) and pass loggerBinary`,
            { container: c.name },
          ),
        );
      }
      logPath = join(taskDir, `${c.name}-json.log`);
      const uri = buildBerthLoggerUri(options.loggerBinary, {
        driver: {
          name: "json-file",
          logPath,
        },
        ...(options.loggerServer === undefined ? {} : { server: options.loggerServer }),
      });
      if (uri.isErr()) {
        return fail(new AgentError("ContainerFailed", `${c.name}: ${uri.error.message}`, { container: c.name }));
      }
      stdio = { kind: "log", uri: uri.value };
    }

    const created = await createContainer(client, {
      id,
      image: c.image,
      netns: netns.path,
      snapshotter,
      labels: { "berth.dev/task": taskId, "berth.dev/container": c.name },
      ...(!c.entryPoint && c.command ? { args: c.command } : {}),
      specOpts,
    });
    if (created.isErr()) {
      return fail(
        new AgentError("ContainerFailed", `creating ${c.name}: ${created.error.message}`, {
          container: c.name,
          cause: created.error,
        }),
      );
    }
    undo.push(removeOne(c));
    const started = await startTask(client, id, { stdio, snapshotter });
    if (started.isErr()) {
      return fail(
        new AgentError("ContainerFailed", `starting ${c.name}: ${started.error.message}`, {
          container: c.name,
          cause: started.error,
        }),
      );
    }
    const task = started.value;
    const pumps: Promise<void>[] = [];
    for (const stream of ["stdout", "stderr"] as const) {
      const readable = task.io?.[stream];
      if (!readable) continue;
      pumps.push(
        new Promise<void>((resolve) => {
          readable.on("data", (chunk: Buffer) => options.onOutput?.(c.name, stream, chunk));
          if (readable.readableEnded || readable.destroyed) resolve();
          readable.once("end", resolve);
          readable.once("close", resolve);
          readable.once("error", () => resolve());
        }),
      );
    }
    tasks.set(c.name, { task, io: task.io, pumps });
    let monitor: HealthMonitor | undefined;
    if (c.healthCheck) {
      const probe = execHealthProbe(client, id, created.value.spec, healthCheckArgs(c.healthCheck.command));
      const m = startHealthMonitor(c.name, c.healthCheck, probe, (h) => {
        reportHealth(id, h);
        emit({ kind: "health", container: c.name, status: h.status });
      });
      monitor = m;
      monitors.set(c.name, m);
      // Undone before the container is removed (teardown runs in reverse).
      undo.push({ what: `stop the health checks of ${c.name}`, run: () => m.stop().then(() => undefined) });
    }
    registry.updateContainer(arn, id, { knownStatus: "RUNNING", startedAt: new Date() });
    // Settles once the container exited and its output reached onOutput (the FIFOs drain after the exit; capped).
    const exited: Promise<number> = Promise.resolve(task.exited).then(async (r) => {
      await Promise.race([Promise.allSettled(pumps), new Promise((done) => setTimeout(done, 2000).unref())]);
      return r.isOk() ? r.value.exitStatus : 255;
    });
    void exited.then((code) => {
      void monitor?.stop();
      registry.updateContainer(arn, id, { knownStatus: "STOPPED", exitCode: code, finishedAt: new Date() });
      emit({ kind: "exited", container: c.name, exitCode: code, essential: c.essential });
    });
    const container: AgentContainer = {
      name: c.name,
      id,
      pid: task.pid,
      essential: c.essential,
      exited,
      ...(logPath === undefined ? {} : { logPath }),
    };
    const watched = monitor;
    running.set(
      c.name,
      watched ? Object.defineProperty(container, "health", { get: () => watched.state, enumerable: true }) : container,
    );
    emit({ kind: "started", container: c.name, pid: task.pid });
  }
  registry.updateTask(arn, { knownStatus: "RUNNING" });

  stopTask = (stopOptions = {}) => {
    stopping ??= (async () => {
      const reason = stopOptions.reason ?? "stopped";
      emit({ kind: "stopping", reason });
      registry.updateTask(arn, { desiredStatus: "STOPPED" });
      await Promise.all([...monitors.values()].map((m) => m.stop()));
      const grace = stopOptions.graceMs ?? options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
      // SIGTERM everything still running (dependents first), then SIGKILL whatever outlives the grace period.
      const live = [...running.values()].reverse();
      await Promise.all(
        live.map(async (c) => {
          const t = tasks.get(c.name)?.task;
          if (!t) return;
          await t.kill("SIGTERM", true);
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<"timeout">((r) => {
            timer = setTimeout(() => r("timeout"), grace);
          });
          const first = await Promise.race([c.exited, timedOut]);
          clearTimeout(timer);
          if (first === "timeout") {
            await t.kill("SIGKILL", true);
            await c.exited;
          }
        }),
      );
      registry.updateTask(arn, { knownStatus: "STOPPED", executionStoppedAt: new Date() });
      const problems = await cleanup();
      emit({ kind: "stopped" });
      resolveDone(reason);
      if (problems.length > 0) {
        return err<void>(new AgentError("CleanupFailed", `stopping task ${taskId} left: ${problems.join("; ")}`));
      }
      return ok(undefined);
    })();
    return stopping;
  };

  const agentTask: AgentTask = {
    id: taskId,
    arn,
    family: def.family,
    ip,
    netnsPath: netns.path,
    metadataUrl: server.url,
    containers: [...running.values()],
    done,
    stop: (o) => stopTask(o),
    // Read by the CLI into the task record (state.ts), from which attach.ts rebuilds this task in a new process.
    runtime: () => ({
      namespace: client.namespace,
      snapshotter,
      stateDir,
      taskDir,
      stopGraceMs: options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
      netns: { name: netns.name, path: netns.path },
      cni: {
        cniPath: options.cniPath,
        cacheDir: cni.cacheDir,
        config: Buffer.from(list.value.bytes).toString("utf8"),
        containerId: attachment.containerId,
        ifName: attachment.ifName,
      },
      ...(eniHost === undefined ? {} : { eniHostInterface: eniHost }),
      metadata: { host: server.host, port: server.port, endpoints, task: registry.task(arn) ?? taskState },
      containers: [...running.values()].map((c) => {
        const healthCheck = byName.get(c.name)?.healthCheck;
        return {
          name: c.name,
          id: c.id,
          essential: c.essential,
          ...(c.logPath === undefined ? {} : { logPath: c.logPath }),
          ...(healthCheck === undefined ? {} : { healthCheck }),
        };
      }),
    }),
  };
  // An essential container may have exited while later ones were starting.
  for (const c of running.values()) {
    void c.exited.then((code) => {
      if (c.essential) void stopTask({ reason: `essential container ${c.name} exited with ${code}` });
    });
  }
  return ok(agentTask);
}
