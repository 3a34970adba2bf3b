/**
 * The reference host agent: runs an ECS task definition (awsvpc) the way Fargate does, built only from berth's
 * packages: `@berth/netns` (the task's network namespace), `@berth/cni` (a bridge attachment), `@berth/image` /
 * `@berth/containerd` (images and containers), `@berth/metadata` (the task metadata endpoint) and
 * `@berth/log-shim` (json-file logs through berth-logger). `pnpm berth task run FILE.json` drives it.
 *
 * @packageDocumentation
 */
export {
  type Assessment,
  type AttachEvent,
  type AttachedTask,
  type AttachOptions,
  assessTask,
  attachTask,
  fifoDirOf,
  fifoDirsFor,
  type ObservedContainer,
} from "./attach.js";
export {
  type EnvironmentFileProvider,
  environmentFromFiles,
  localEnvironmentFiles,
  parseEnvironmentFile,
} from "./environment-files.js";
export { AgentError, type AgentErrorCode, type AgentErrorOptions } from "./errors.js";
export {
  execHealthProbe,
  type HealthMonitor,
  type HealthProbe,
  type HealthState,
  type HealthStatus,
  healthCheckArgs,
  type ProbeResult,
  startHealthMonitor,
} from "./health.js";
export { type ImageSource, ociLayoutImages, type RegistryImagesOptions, registryImages } from "./images.js";
export {
  isPod,
  kubernetesQuantity,
  parseTaskFile,
  podToTaskDefinitionJson,
  taskDefinitionFromPod,
} from "./pod-spec.js";
export { type AgentResult, err, ok } from "./result.js";
export {
  type AgentContainer,
  type AgentEvent,
  type AgentOptions,
  type AgentTask,
  DEFAULT_AGENT_STATE_DIR,
  DEFAULT_STOP_GRACE_MS,
  DEFAULT_TASK_BRIDGE,
  DEFAULT_TASK_SUBNET,
  runTask,
} from "./run-task.js";
export { fileSecrets, type SecretProvider } from "./secrets.js";
export {
  agentAlive,
  claimTaskRecord,
  isAlive,
  listTaskRecords,
  parseTaskRecord,
  processStartTime,
  type RuntimeContainer,
  readTaskRecord,
  removeTaskRecord,
  TASK_RECORD_VERSION,
  type TaskRecord,
  type TaskRuntime,
  writeTaskRecord,
} from "./state.js";
export {
  type ContainerDefinition,
  type ContainerDependency,
  containerMountPoints,
  DEPENDENCY_CONDITIONS,
  type DependencyCondition,
  type EnvironmentFileDefinition,
  type HealthCheckDefinition,
  type LogConfiguration,
  type MountPointDefinition,
  type PortMappingDefinition,
  parseTaskDefinition,
  type SecretDefinition,
  startOrder,
  type TaskDefinition,
  taskDefinitionFromJson,
  type VolumeDefinition,
  type VolumeFromDefinition,
} from "./task-definition.js";
export { containerMounts, mountSpecOpts, prepareVolumes, type ResolvedMount, type VolumePaths } from "./volumes.js";
