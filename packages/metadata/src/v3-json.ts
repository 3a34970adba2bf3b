import { err, ok, type Result } from "neverthrow";
import type { MetadataError } from "./errors.js";
import { Checker, checkTaskShape, containerCommon, networksOf, omitUndefined, taskCommon } from "./json-common.js";
import type { TaskResponseOptions } from "./v4-json.js";
import type {
  ContainerState,
  HealthResponse,
  LimitsResponse,
  PortResponse,
  TaskState,
  VolumeResponse,
} from "./v4-types.js";

/** `Networks[]` entry of a v3 container: the mode and addresses only. */
export interface NetworkResponseV3 {
  readonly NetworkMode?: string;
  readonly IPv4Addresses?: readonly string[];
  readonly IPv6Addresses?: readonly string[];
}

/**
 * The v3 container response (`GET /v3/{id}`): the agent's v2 struct without the v4 additions
 * (`LogDriver`, `LogOptions`, `ContainerARN`, `Snapshotter`, `RestartCount`, ports' `HostIp`,
 * the interface properties of `Networks`), and with `Networks` between `Type` and `Health`.
 */
export interface ContainerResponseV3 {
  readonly DockerId: string;
  readonly Name: string;
  readonly DockerName: string;
  readonly Image: string;
  readonly ImageID: string;
  readonly Ports?: readonly PortResponse[];
  readonly Labels?: Readonly<Record<string, string>>;
  readonly DesiredStatus: string;
  readonly KnownStatus: string;
  readonly ExitCode?: number;
  readonly Limits: LimitsResponse;
  readonly CreatedAt?: string;
  readonly StartedAt?: string;
  readonly FinishedAt?: string;
  readonly Type: string;
  readonly Networks?: readonly NetworkResponseV3[];
  readonly Health?: HealthResponse;
  readonly Volumes?: readonly VolumeResponse[];
}

/**
 * The v3 task response (`GET /v3/{id}/task`, `/taskWithTags`): the agent's v2 task struct without
 * `LaunchType` and `Errors`, with `Containers` right after `KnownStatus`, and none of v4's
 * `VPCID`, `ServiceName`, `Group`, `ClockDrift`, `EphemeralStorageMetrics`, `FaultInjectionEnabled`,
 * `AvailabilityZoneID`.
 */
export interface TaskResponseV3 {
  readonly Cluster: string;
  readonly TaskARN: string;
  readonly Family: string;
  readonly Revision: string;
  readonly DesiredStatus?: string;
  readonly KnownStatus: string;
  readonly Containers?: readonly ContainerResponseV3[];
  readonly Limits?: LimitsResponse;
  readonly PullStartedAt?: string;
  readonly PullStoppedAt?: string;
  readonly ExecutionStoppedAt?: string;
  readonly AvailabilityZone?: string;
  readonly TaskTags?: Readonly<Record<string, string>>;
  readonly ContainerInstanceTags?: Readonly<Record<string, string>>;
}

function containerV3(
  check: Checker,
  c: ContainerState,
  task: TaskState | undefined,
  path: string,
): ContainerResponseV3 {
  const { Health, Volumes, ...head } = containerCommon(check, c, path, false);
  const nets = networksOf(check, (c ?? {}) as ContainerState, task, path);
  return omitUndefined<ContainerResponseV3>({
    ...head,
    Networks: check.list(nets.path, nets.networks, (n, at) =>
      omitUndefined<NetworkResponseV3>({
        NetworkMode: check.optString(`${at}.mode`, n.mode),
        IPv4Addresses: check.strings(`${at}.ipv4Addresses`, n.ipv4Addresses),
        IPv6Addresses: check.strings(`${at}.ipv6Addresses`, n.ipv6Addresses),
      }),
    ),
    Health,
    Volumes,
  });
}

/**
 * The v3 container response (`GET /v3/{endpointId}`) for one container, as the ECS agent encodes
 * it. `task` supplies the networks when the container has none of its own.
 *
 * Fails with `InvalidInput` (naming the field) for a malformed model.
 */
export function containerResponseV3(
  container: ContainerState,
  task?: TaskState,
): Result<ContainerResponseV3, MetadataError> {
  const check = new Checker();
  const body = containerV3(check, container, task, "container");
  return check.error === undefined ? ok(body) : err(check.error);
}

/**
 * The v3 task response (`GET /v3/{endpointId}/task`, or `/taskWithTags` with `withTags`), as the
 * ECS agent encodes it. v3 reports no `Errors` for failed tag look-ups.
 *
 * Fails with `InvalidInput` (naming the field) for a malformed model.
 */
export function taskResponseV3(
  task: TaskState,
  options: TaskResponseOptions = {},
): Result<TaskResponseV3, MetadataError> {
  const check = new Checker();
  checkTaskShape(check, task);
  if (check.error !== undefined) return err(check.error);
  const { Cluster, TaskARN, Family, Revision, DesiredStatus, KnownStatus, ...tail } = taskCommon(
    check,
    task,
    options.withTags === true,
  );
  const containers = task.containers.map((c, i) => containerV3(check, c, task, `task.containers[${i}]`));
  const body = omitUndefined<TaskResponseV3>({
    Cluster,
    TaskARN,
    Family,
    Revision,
    DesiredStatus,
    KnownStatus,
    Containers: containers.length === 0 ? undefined : containers,
    ...tail,
  });
  return check.error === undefined ? ok(body) : err(check.error);
}
