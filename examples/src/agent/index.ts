/**
 * The reference host agent: runs an ECS task definition (awsvpc) the way Fargate does, built only from berth's
 * packages: `@berth/netns` (the task's network namespace), `@berth/cni` (a bridge attachment), `@berth/image` /
 * `@berth/containerd` (images and containers), `@berth/metadata` (the task metadata endpoint) and
 * `@berth/log-shim` (json-file logs through berth-logger). `pnpm berth task run FILE.json` drives it.
 *
 * @packageDocumentation
 */
export { AgentError, type AgentErrorCode, type AgentErrorOptions } from "./errors.js";
export { type ImageSource, ociLayoutImages, type RegistryImagesOptions, registryImages } from "./images.js";
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
  isAlive,
  listTaskRecords,
  readTaskRecord,
  removeTaskRecord,
  type TaskRecord,
  writeTaskRecord,
} from "./state.js";
export {
  type ContainerDefinition,
  type ContainerDependency,
  DEPENDENCY_CONDITIONS,
  type DependencyCondition,
  type LogConfiguration,
  type PortMappingDefinition,
  parseTaskDefinition,
  type SecretDefinition,
  startOrder,
  type TaskDefinition,
  taskDefinitionFromJson,
} from "./task-definition.js";
