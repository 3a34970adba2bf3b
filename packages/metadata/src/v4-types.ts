import type { Timestamp } from "./timestamp.js";

// ---------------------------------------------------------------------------------------------
// Input model: tasks and containers as a host agent registers them. Idiomatic TypeScript names;
// the functions in v4-json.ts / v3-json.ts turn them into the ECS agent's wire JSON.
// ---------------------------------------------------------------------------------------------

/** A task's lifecycle status, as the ECS agent prints it (`TaskStatus.String()`). */
export type TaskStatus = "NONE" | "MANIFEST_PULLED" | "CREATED" | "RUNNING" | "STOPPED";

/** A container's lifecycle status, as the ECS agent prints it (`ContainerStatus.String()`). */
export type ContainerStatus =
  | "NONE"
  | "MANIFEST_PULLED"
  | "PULLED"
  | "CREATED"
  | "RUNNING"
  | "RESOURCES_PROVISIONED"
  | "STOPPED";

/**
 * What a container is for. `NORMAL` containers come from the task definition; the others are the
 * agent's internal helpers (`CNI_PAUSE` holds the task's network namespace).
 */
export type ContainerType = "NORMAL" | "EMPTY_HOST_VOLUME" | "CNI_PAUSE" | "NAMESPACE_PAUSE" | "MANAGED_DAEMON";

/** A container health check's state. `UNKNOWN` is reported without a `status` field, as the agent does. */
export type HealthStatus = "HEALTHY" | "UNHEALTHY" | "UNKNOWN";

/** The infrastructure a task runs on, as ECS reports it. */
export type LaunchType = "EC2" | "FARGATE" | "EXTERNAL" | "MANAGED_INSTANCES";

/** The host clock's synchronization state (`ClockDrift.ClockSynchronizationStatus`). */
export type ClockSynchronizationStatus = "SYNCHRONIZED" | "NOT_SYNCHRONIZED";

/** Task-level resource limits. A zero or missing value is omitted from the JSON. */
export interface TaskLimits {
  /** vCPUs, fractional allowed (e.g. `0.25`). */
  readonly cpu?: number;
  /** Memory in MiB (integer). */
  readonly memory?: number;
}

/** Container-level resource limits. */
export interface ContainerLimits {
  /**
   * CPU units (1024 per vCPU, integer). Like the ECS agent, values below 2 (including a missing value)
   * are reported as 2, the smallest CPU-shares value the kernel accepts.
   */
  readonly cpu?: number;
  /** Memory in MiB (integer). Reported whenever given, including `0`; omitted when missing. */
  readonly memory?: number;
}

/** A published port. Zero numbers and empty strings are omitted from the JSON. */
export interface PortBinding {
  readonly containerPort?: number;
  readonly protocol?: "tcp" | "udp";
  /** The host port (for `awsvpc` the agent reports the container port here). */
  readonly hostPort?: number;
  /** The host address the port is bound to (v4 only). */
  readonly hostIp?: string;
}

/** A volume mounted into the container. */
export interface VolumeMount {
  /** The volume's name (`DockerName`). */
  readonly name?: string;
  /** The host path or volume source. */
  readonly source?: string;
  /** The path inside the container. */
  readonly destination?: string;
}

/** The container's health-check state; report it only for containers that have a health check. */
export interface HealthState {
  readonly status: HealthStatus;
  /** When the status last changed. */
  readonly since?: Timestamp;
  /** The last failing check's exit code (`0` is omitted, as in the agent). */
  readonly exitCode?: number;
  /** The last check's output. */
  readonly output?: string;
}

/**
 * One network attachment of a container. For `awsvpc` tasks this is the task's elastic network
 * interface and the interface properties (`attachmentIndex` onwards) are filled in; for `bridge`/
 * `host` only `mode` and the addresses. Empty strings and empty lists are omitted from the JSON.
 */
export interface NetworkState {
  /** `awsvpc`, `bridge`, `host`, or the runtime's network name. */
  readonly mode?: string;
  readonly ipv4Addresses?: readonly string[];
  readonly ipv6Addresses?: readonly string[];
  /** The ENI's attachment index (the agent reports `0` for `awsvpc` tasks). Emitted whenever given. */
  readonly attachmentIndex?: number;
  readonly macAddress?: string;
  /** E.g. `10.0.2.0/24`. */
  readonly ipv4SubnetCidrBlock?: string;
  readonly ipv6SubnetCidrBlock?: string;
  readonly domainNameServers?: readonly string[];
  readonly domainNameSearchList?: readonly string[];
  readonly privateDnsName?: string;
  /** The subnet gateway with prefix length, e.g. `10.0.2.1/24` (the wire key is `SubnetGatewayIpv4Address`). */
  readonly subnetGatewayIpv4Address?: string;
  /** The agent fills this only for IPv6-only interfaces. */
  readonly subnetGatewayIpv6Address?: string;
}

/** A failure to fetch tags, reported in `Errors` by `taskWithTags`. Empty values are omitted. */
export interface TagError {
  /** `TaskTags` or `ContainerInstanceTags`. */
  readonly field?: string;
  /** The AWS error code, e.g. `AccessDeniedException`. */
  readonly code?: string;
  readonly message?: string;
  /** The HTTP status of the failed call (integer; `0` is omitted). */
  readonly statusCode?: number;
  readonly requestId?: string;
  readonly resourceArn?: string;
}

/** The host clock's accuracy as Fargate reports it. */
export interface ClockDriftState {
  /** The clock error bound in milliseconds (`0` is omitted). */
  readonly clockErrorBound?: number;
  /** When the bound was measured. */
  readonly referenceTimestamp?: Timestamp;
  readonly synchronizationStatus?: ClockSynchronizationStatus;
}

/** The task's ephemeral storage use, in MiB. Both values are always reported. */
export interface EphemeralStorageState {
  readonly utilizedMiB: number;
  readonly reservedMiB: number;
}

/** One container of a task, as a host agent registers it. */
export interface ContainerState {
  /** The runtime's container id (reported as `DockerId`). */
  readonly runtimeId: string;
  /** The container's name in the task definition (`Name`). */
  readonly name: string;
  /** The runtime's name for the container (`DockerName`). */
  readonly runtimeName: string;
  /** The image reference the container was created from (`Image`). */
  readonly image: string;
  /** The image's id, `sha256:...` (`ImageID`; empty string allowed, as the agent reports for its pause image). */
  readonly imageId: string;
  readonly desiredStatus: ContainerStatus;
  readonly knownStatus: ContainerStatus;
  /** Defaults to `NORMAL`. */
  readonly type?: ContainerType;
  readonly labels?: Readonly<Record<string, string>>;
  readonly ports?: readonly PortBinding[];
  /** Set once the container has exited (integer; `0` is reported). */
  readonly exitCode?: number;
  readonly limits?: ContainerLimits;
  readonly createdAt?: Timestamp;
  readonly startedAt?: Timestamp;
  readonly finishedAt?: Timestamp;
  readonly health?: HealthState;
  readonly volumes?: readonly VolumeMount[];
  /** E.g. `awslogs` (v4 only). */
  readonly logDriver?: string;
  /** The log driver's options (v4 only). */
  readonly logOptions?: Readonly<Record<string, string>>;
  /** The container's ARN (v4 only). */
  readonly arn?: string;
  /** The container's networks; when missing, the task's {@link TaskState.networks} are reported. */
  readonly networks?: readonly NetworkState[];
  /** The snapshotter that prepared the root filesystem, e.g. `overlayfs` (v4 only). */
  readonly snapshotter?: string;
  /** How often the container was restarted by its restart policy; give it only when a policy is on (v4 only). */
  readonly restartCount?: number;
}

/** A task, as a host agent registers it with the metadata server. */
export interface TaskState {
  /** The cluster's ARN or short name (`Cluster`). */
  readonly cluster: string;
  /** The task's ARN (`TaskARN`). */
  readonly arn: string;
  /** The task definition family (`Family`). */
  readonly family: string;
  /** The task definition revision; reported as a string (`Revision`). */
  readonly revision: string | number;
  readonly desiredStatus?: TaskStatus;
  readonly knownStatus: TaskStatus;
  readonly limits?: TaskLimits;
  /** When the first image pull began. */
  readonly pullStartedAt?: Timestamp;
  /** When the last image pull finished. */
  readonly pullStoppedAt?: Timestamp;
  /** When the task's desired status moved to `STOPPED`. */
  readonly executionStoppedAt?: Timestamp;
  readonly availabilityZone?: string;
  /** E.g. `use1-az4` (v4 only). */
  readonly availabilityZoneId?: string;
  /** v4 only. */
  readonly launchType?: LaunchType;
  /** The container instance's VPC (v4 only). */
  readonly vpcId?: string;
  /** The service that started the task (v4 only). */
  readonly serviceName?: string;
  /** The task group, e.g. `service:web` (v4 only). */
  readonly group?: string;
  /** The task's tags, reported by `taskWithTags`. */
  readonly tags?: Readonly<Record<string, string>>;
  /** The container instance's tags, reported by `taskWithTags`. */
  readonly containerInstanceTags?: Readonly<Record<string, string>>;
  /** Failures to fetch the tags, reported by v4 `taskWithTags` as `Errors`. */
  readonly tagErrors?: readonly TagError[];
  /** v4 only. */
  readonly clockDrift?: ClockDriftState;
  /** v4 only. */
  readonly ephemeralStorage?: EphemeralStorageState;
  /** Whether fault injection is enabled; v4 always reports it (default `false`). */
  readonly faultInjectionEnabled?: boolean;
  /** Networks reported for every container without networks of its own (an `awsvpc` task's ENI). */
  readonly networks?: readonly NetworkState[];
  /** The task's containers, in the order they are reported. */
  readonly containers: readonly ContainerState[];
}

// ---------------------------------------------------------------------------------------------
// Wire JSON (v4): the ECS agent's response structs. Keys and their order follow the agent's Go
// structs (ecs-agent/tmds/handlers/v2 and v4/state); optional keys are the ones tagged omitempty.
// ---------------------------------------------------------------------------------------------

/** `Ports[]` entry (all fields omitempty). */
export interface PortResponse {
  readonly ContainerPort?: number;
  readonly Protocol?: string;
  readonly HostPort?: number;
  /** v4 only. */
  readonly HostIp?: string;
}

/** `Limits` of a task or container. */
export interface LimitsResponse {
  readonly CPU?: number;
  readonly Memory?: number;
}

/** `Health` (note the lower-case keys, as in the agent). */
export interface HealthResponse {
  readonly status?: string;
  readonly statusSince?: string;
  readonly exitCode?: number;
  readonly output?: string;
}

/** `Volumes[]` entry. */
export interface VolumeResponse {
  readonly DockerName?: string;
  readonly Source?: string;
  readonly Destination?: string;
}

/** `Networks[]` entry of a v4 container. */
export interface NetworkResponseV4 {
  readonly NetworkMode?: string;
  readonly IPv4Addresses?: readonly string[];
  readonly IPv6Addresses?: readonly string[];
  readonly AttachmentIndex?: number;
  readonly MACAddress?: string;
  readonly IPv4SubnetCIDRBlock?: string;
  readonly IPv6SubnetCIDRBlock?: string;
  readonly DomainNameServers?: readonly string[];
  readonly DomainNameSearchList?: readonly string[];
  readonly PrivateDNSName?: string;
  readonly SubnetGatewayIpv4Address?: string;
  readonly SubnetGatewayIpv6Address?: string;
}

/** The v4 container response (`GET /v4/{id}` and each of a task's `Containers`). */
export interface ContainerResponseV4 {
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
  readonly Health?: HealthResponse;
  readonly Volumes?: readonly VolumeResponse[];
  readonly LogDriver?: string;
  readonly LogOptions?: Readonly<Record<string, string>>;
  readonly ContainerARN?: string;
  readonly Networks?: readonly NetworkResponseV4[];
  readonly Snapshotter?: string;
  readonly RestartCount?: number;
}

/** `Errors[]` entry of `taskWithTags`. */
export interface ErrorResponse {
  readonly ErrorField?: string;
  readonly ErrorCode?: string;
  readonly ErrorMessage?: string;
  readonly StatusCode?: number;
  readonly RequestId?: string;
  readonly ResourceARN?: string;
}

/** `ClockDrift`. */
export interface ClockDriftResponse {
  readonly ClockErrorBound?: number;
  readonly ReferenceTimestamp?: string;
  readonly ClockSynchronizationStatus?: string;
}

/** `EphemeralStorageMetrics` (MiB; neither key is omitempty). */
export interface EphemeralStorageMetricsResponse {
  readonly Utilized: number;
  readonly Reserved: number;
}

/** The v4 task response (`GET /v4/{id}/task` and `/taskWithTags`). */
export interface TaskResponseV4 {
  readonly Cluster: string;
  readonly TaskARN: string;
  readonly Family: string;
  readonly Revision: string;
  readonly DesiredStatus?: string;
  readonly KnownStatus: string;
  readonly Limits?: LimitsResponse;
  readonly PullStartedAt?: string;
  readonly PullStoppedAt?: string;
  readonly ExecutionStoppedAt?: string;
  readonly AvailabilityZone?: string;
  readonly TaskTags?: Readonly<Record<string, string>>;
  readonly ContainerInstanceTags?: Readonly<Record<string, string>>;
  readonly LaunchType?: string;
  readonly Errors?: readonly ErrorResponse[];
  readonly Containers?: readonly ContainerResponseV4[];
  readonly VPCID?: string;
  readonly ServiceName?: string;
  readonly Group?: string;
  readonly ClockDrift?: ClockDriftResponse;
  readonly EphemeralStorageMetrics?: EphemeralStorageMetricsResponse;
  readonly FaultInjectionEnabled: boolean;
  readonly AvailabilityZoneID?: string;
}
