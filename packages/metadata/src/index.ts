/**
 * ECS-compatible task metadata for host agents: unguessable per-container endpoint ids, the
 * environment variables that point a container at its metadata and credentials endpoints, and pure
 * functions that turn a typed task/container model into exactly the JSON the ECS agent serves on
 * its v4 and v3 task metadata endpoints. Every fallible function returns a neverthrow `Result`
 * whose error is a tagged {@link MetadataError}.
 *
 * @packageDocumentation
 */

export {
  CGROUP_METRICS_TYPE_URLS,
  type CgroupMetrics,
  type CgroupPidsStat,
  type CgroupV1BlkioEntry,
  type CgroupV1BlkioStat,
  type CgroupV1CpuUsage,
  type CgroupV1MemoryEntry,
  type CgroupV1MemoryStat,
  type CgroupV1Metrics,
  type CgroupV1Throttle,
  type CgroupV2CpuStat,
  type CgroupV2IoEntry,
  type CgroupV2MemoryStat,
  type CgroupV2Metrics,
  type Uint64,
} from "./cgroup-metrics.js";
export {
  type DockerBlkioEntry,
  type DockerBlkioStats,
  type DockerCpuStats,
  type DockerCpuUsage,
  type DockerMemoryStats,
  type DockerNetworkStats,
  type DockerStats,
  dockerStatsFromCgroup,
  GO_ZERO_TIME,
  type NetworkRateStats,
  networkRate,
  type PreviousSample,
  type StatsSampleInput,
} from "./docker-stats.js";
export { ENDPOINT_ID_BYTES, type EndpointId, endpointIdsEqual, isEndpointId, newEndpointId } from "./endpoint-id.js";
export {
  type ContainerMetadataEnvOptions,
  containerMetadataEnv,
  DEFAULT_METADATA_BASE_URL,
  isSdkAcceptedCredentialsUrl,
} from "./env.js";
export { MetadataError, type MetadataErrorCode, type MetadataErrorOptions } from "./errors.js";
export { type NetnsRef, parseProcNetDev, type ReadNetnsCountersOptions, readNetnsCounters } from "./net-dev.js";
export {
  type ContainerUpdate,
  type CredentialsEntry,
  type CredentialsProvider,
  createTaskRegistry,
  type EndpointEntry,
  type MetadataProvider,
  type RoleCredentials,
  type TaskRegistry,
  type TaskUpdate,
} from "./registry.js";
export { type MetadataServer, type MetadataServerOptions, startMetadataServer } from "./server.js";
export { registryFromStateFile, type StateFile, type StateFileCredentials, type StateFileTask } from "./state-file.js";
export {
  type CgroupStatsProvider,
  type CgroupStatsProviderOptions,
  createCgroupStatsProvider,
  type MetricsSource,
  type NetworkSource,
  parseProcStatCpu,
  readSystemCpuUsage,
  type StatsProvider,
} from "./stats-provider.js";
export { AddressThrottle, DEFAULT_THROTTLE, type ThrottleOptions } from "./throttle.js";
export { formatTimestamp, type Timestamp } from "./timestamp.js";
export {
  type ContainerResponseV3,
  containerResponseV3,
  type NetworkResponseV3,
  type TaskResponseV3,
  taskResponseV3,
} from "./v3-json.js";
export { containerResponseV4, type TaskResponseOptions, taskResponseV4 } from "./v4-json.js";
export type {
  ClockDriftResponse,
  ClockDriftState,
  ClockSynchronizationStatus,
  ContainerLimits,
  ContainerResponseV4,
  ContainerState,
  ContainerStatus,
  ContainerType,
  EphemeralStorageMetricsResponse,
  EphemeralStorageState,
  ErrorResponse,
  HealthResponse,
  HealthState,
  HealthStatus,
  LaunchType,
  LimitsResponse,
  NetworkResponseV4,
  NetworkState,
  PortBinding,
  PortResponse,
  TagError,
  TaskLimits,
  TaskResponseV4,
  TaskState,
  TaskStatus,
  VolumeMount,
  VolumeResponse,
} from "./v4-types.js";
