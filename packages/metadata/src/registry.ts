import createDebug from "debug";
import { err, ok, type Result } from "neverthrow";
import { isEndpointId } from "./endpoint-id.js";
import { MetadataError } from "./errors.js";
import { SecretMap } from "./secret-map.js";
import { taskResponseV4 } from "./v4-json.js";
import type { ContainerState, ContainerStatus, HealthState, TaskState, TaskStatus } from "./v4-types.js";

const log = createDebug("berth:metadata:registry");

/** What an endpoint id resolves to: the container it names and the task that container belongs to. */
export interface EndpointEntry {
  readonly task: TaskState;
  /** One of `task.containers` (the same object). */
  readonly container: ContainerState;
}

/**
 * Where the metadata server reads tasks from. The server never reaches into the container runtime:
 * the host agent keeps this up to date (with {@link TaskRegistry} or its own implementation).
 *
 * `lookup` runs on every request, so it must be fast and synchronous, and it must compare ids in
 * constant time (never `===` on the secret id). Return the same `TaskState` object until the task
 * changes and a new object from then on: the server caches the JSON it serialized per task object,
 * so a task changed in place would keep being served as it was when first asked for.
 */
export interface MetadataProvider {
  /** Resolves an endpoint id, or `undefined` when nothing is registered under it; `err` on an internal failure. */
  lookup(endpointId: string): Result<EndpointEntry | undefined, MetadataError>;
}

/** Temporary role credentials, as a container receives them from `/v2/credentials/<id>`. */
export interface RoleCredentials {
  /** The role's ARN (`RoleArn`). */
  readonly roleArn: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The session token (`Token`). */
  readonly sessionToken: string;
  /** When the credentials expire (`Expiration`, RFC 3339). */
  readonly expiration: Date | string;
}

/**
 * What a credentials id resolves to. `uninitialized` answers 503 `CredentialsUninitialized`, as the
 * ECS agent does while it is still restoring state. With `authorizationToken`, a request must carry
 * that exact `Authorization` header (the `AWS_CONTAINER_CREDENTIALS_FULL_URI` style).
 */
export type CredentialsEntry =
  | { readonly status: "ready"; readonly credentials: RoleCredentials; readonly authorizationToken?: string }
  | { readonly status: "uninitialized"; readonly authorizationToken?: string };

/** Where the server reads role credentials from. `lookup` must compare ids in constant time. */
export interface CredentialsProvider {
  /** Resolves a credentials id, or `undefined` when none is registered; `err` answers 500. */
  credentials(id: string): Result<CredentialsEntry | undefined, MetadataError>;
}

/** Status changes of one container ({@link TaskRegistry.updateContainer}). */
export interface ContainerUpdate {
  readonly knownStatus?: ContainerStatus;
  readonly desiredStatus?: ContainerStatus;
  readonly exitCode?: number;
  readonly startedAt?: Date | string;
  readonly finishedAt?: Date | string;
  /** The container's health-check state (report it only for containers that have a health check). */
  readonly health?: HealthState;
}

/** Status changes of a task ({@link TaskRegistry.updateTask}). */
export interface TaskUpdate {
  readonly knownStatus?: TaskStatus;
  readonly desiredStatus?: TaskStatus;
  readonly pullStartedAt?: Date | string;
  readonly pullStoppedAt?: Date | string;
  readonly executionStoppedAt?: Date | string;
}

/**
 * The in-memory {@link MetadataProvider} and {@link CredentialsProvider}: the host agent registers
 * each task with one endpoint id per container, updates statuses as they change, and removes the
 * task when it is gone. Tasks are stored as immutable snapshots; every change replaces the snapshot.
 */
export interface TaskRegistry extends MetadataProvider, CredentialsProvider {
  /**
   * Registers a task. `endpoints` maps each container's `runtimeId` to its endpoint id (from
   * `newEndpointId()`); containers without one are reported in the task but cannot be asked for.
   * Fails with `InvalidInput` for a model the JSON builders refuse or a malformed endpoint id, and
   * `AlreadyExists` for a task ARN or endpoint id that is already registered.
   */
  registerTask(task: TaskState, endpoints: Readonly<Record<string, string>>): Result<void, MetadataError>;
  /** Applies status changes to a task. `NotFound` when no task has that ARN; `InvalidInput` for a bad value. */
  updateTask(taskArn: string, update: TaskUpdate): Result<TaskState, MetadataError>;
  /** Applies status changes to one container of a task. `NotFound` when the task or container is unknown. */
  updateContainer(taskArn: string, runtimeId: string, update: ContainerUpdate): Result<TaskState, MetadataError>;
  /** Removes a task and its endpoint ids; `NotFound` when no task has that ARN. */
  removeTask(taskArn: string): Result<void, MetadataError>;
  /** The current snapshot of a task, if registered. */
  task(taskArn: string): TaskState | undefined;
  /** The endpoint ids of a task's containers (runtime id to endpoint id), e.g. to inject the environment. */
  endpoints(taskArn: string): Readonly<Record<string, string>> | undefined;
  /**
   * Registers (or replaces) the credentials served under `id`. Ids are letters, digits and
   * `-._~`, 1-256 characters (the same rule as `containerMetadataEnv`'s `credentialsId`).
   */
  setCredentials(id: string, entry: CredentialsEntry): Result<void, MetadataError>;
  /** Forgets the credentials under `id`; `NotFound` when none were registered. */
  removeCredentials(id: string): Result<void, MetadataError>;
  /** Removes every task and credential. */
  clear(): void;
  /** How many tasks are registered. */
  readonly size: number;
}

const CREDENTIALS_ID = /^[A-Za-z0-9._~-]{1,256}$/;

interface TaskRecord {
  task: TaskState;
  readonly endpoints: Readonly<Record<string, string>>;
}

interface EndpointRecord {
  readonly record: TaskRecord;
  readonly runtimeId: string;
  /** The snapshot `answer` was built from; `lookup` rebuilds it once `record.task` is replaced. */
  answeredTask: TaskState | undefined;
  /** `lookup`'s answer for `answeredTask`, kept so a request allocates nothing here. */
  answer: Result<EndpointEntry | undefined, MetadataError>;
}

const NOTHING: Result<EndpointEntry | undefined, MetadataError> = ok(undefined);

function validateTask(task: TaskState): Result<void, MetadataError> {
  const built = taskResponseV4(task, { withTags: true });
  return built.isErr() ? err(built.error) : ok(undefined);
}

function hasOwn(object: object, key: string): boolean {
  return Object.hasOwn(object, key);
}

/** Creates an empty in-memory {@link TaskRegistry}. */
export function createTaskRegistry(): TaskRegistry {
  const tasks = new Map<string, TaskRecord>();
  const endpoints = new SecretMap<EndpointRecord>();
  const credentials = new SecretMap<CredentialsEntry>();
  const credentialIds = new Set<string>();

  function replace(record: TaskRecord, next: TaskState): Result<TaskState, MetadataError> {
    const valid = validateTask(next);
    if (valid.isErr()) return err(valid.error);
    record.task = Object.freeze(next);
    return ok(record.task);
  }

  function definedEntries<T extends object>(update: T): T {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(update)) if (v !== undefined) out[k] = v;
    return out as T;
  }

  const registry: TaskRegistry = {
    lookup(endpointId) {
      if (typeof endpointId !== "string") return NOTHING;
      const hit = endpoints.get(endpointId);
      if (hit === undefined) return NOTHING;
      const { task } = hit.record;
      if (hit.answeredTask !== task) {
        const container = task.containers.find((c) => c.runtimeId === hit.runtimeId);
        hit.answer = container === undefined ? NOTHING : ok(Object.freeze({ task, container }));
        hit.answeredTask = task;
      }
      return hit.answer;
    },

    credentials(id) {
      if (typeof id !== "string") return ok(undefined);
      return ok(credentials.get(id));
    },

    registerTask(task, map) {
      if (typeof task !== "object" || task === null) {
        return err(new MetadataError("InvalidInput", "registerTask needs a TaskState object", { field: "task" }));
      }
      const valid = validateTask(task);
      if (valid.isErr()) return err(valid.error);
      if (tasks.has(task.arn)) {
        return err(
          new MetadataError(
            "AlreadyExists",
            `task ${task.arn} is already registered; use updateTask/updateContainer to change it or removeTask first`,
            { field: "task.arn" },
          ),
        );
      }
      const runtimeIds = new Set(task.containers.map((c) => c.runtimeId));
      const seen = new Set<string>();
      for (const [runtimeId, endpointId] of Object.entries(map ?? {})) {
        const field = `endpoints.${runtimeId}`;
        if (!runtimeIds.has(runtimeId)) {
          return err(
            new MetadataError("InvalidInput", `${field}: the task has no container with runtimeId ${runtimeId}`, {
              field,
            }),
          );
        }
        if (!isEndpointId(endpointId)) {
          return err(
            new MetadataError(
              "InvalidInput",
              `${field}: not an endpoint id (32 lowercase hex digits); create one with newEndpointId()`,
              { field },
            ),
          );
        }
        if (seen.has(endpointId) || endpoints.has(endpointId)) {
          return err(
            new MetadataError(
              "AlreadyExists",
              `${field}: that endpoint id is already in use; give each container its own`,
              {
                field,
              },
            ),
          );
        }
        seen.add(endpointId);
      }
      const record: TaskRecord = { task: Object.freeze({ ...task }), endpoints: Object.freeze({ ...map }) };
      tasks.set(task.arn, record);
      for (const [runtimeId, endpointId] of Object.entries(record.endpoints)) {
        endpoints.set(endpointId, { record, runtimeId, answeredTask: undefined, answer: NOTHING });
      }
      log("registered task %s with %d container(s), %d endpoint(s)", task.arn, task.containers.length, seen.size);
      return ok(undefined);
    },

    updateTask(taskArn, update) {
      const record = tasks.get(taskArn);
      if (record === undefined) {
        return err(new MetadataError("NotFound", `no task ${taskArn} is registered; registerTask it first`));
      }
      const next = replace(record, { ...record.task, ...definedEntries(update) });
      if (next.isOk()) log("task %s updated: %o", taskArn, update);
      return next;
    },

    updateContainer(taskArn, runtimeId, update) {
      const record = tasks.get(taskArn);
      if (record === undefined) {
        return err(new MetadataError("NotFound", `no task ${taskArn} is registered; registerTask it first`));
      }
      const index = record.task.containers.findIndex((c) => c.runtimeId === runtimeId);
      const current = record.task.containers[index];
      if (current === undefined) {
        return err(
          new MetadataError("NotFound", `task ${taskArn} has no container with runtimeId ${runtimeId}`, {
            field: "runtimeId",
          }),
        );
      }
      const containers = [...record.task.containers];
      containers[index] = { ...current, ...definedEntries(update) };
      const next = replace(record, { ...record.task, containers });
      if (next.isOk()) log("container %s of task %s updated: %o", runtimeId, taskArn, update);
      return next;
    },

    removeTask(taskArn) {
      const record = tasks.get(taskArn);
      if (record === undefined) return err(new MetadataError("NotFound", `no task ${taskArn} is registered`));
      for (const endpointId of Object.values(record.endpoints)) endpoints.delete(endpointId);
      tasks.delete(taskArn);
      log("removed task %s", taskArn);
      return ok(undefined);
    },

    task(taskArn) {
      return tasks.get(taskArn)?.task;
    },

    endpoints(taskArn) {
      return tasks.get(taskArn)?.endpoints;
    },

    setCredentials(id, entry) {
      if (typeof id !== "string" || !CREDENTIALS_ID.test(id)) {
        return err(
          new MetadataError("InvalidInput", "credentials id must be 1-256 characters of letters, digits and -._~", {
            field: "id",
          }),
        );
      }
      if (entry?.status !== "ready" && entry?.status !== "uninitialized") {
        return err(
          new MetadataError("InvalidInput", 'credentials entry needs status "ready" or "uninitialized"', {
            field: "entry.status",
          }),
        );
      }
      if (entry.status === "ready") {
        const c = entry.credentials;
        for (const key of ["roleArn", "accessKeyId", "secretAccessKey", "sessionToken"] as const) {
          if (typeof c?.[key] !== "string" || c[key] === "") {
            return err(
              new MetadataError("InvalidInput", `credentials.${key} must be a non-empty string`, {
                field: `entry.credentials.${key}`,
              }),
            );
          }
        }
        const expiration = c.expiration instanceof Date ? c.expiration : new Date(c.expiration);
        if (Number.isNaN(expiration.getTime())) {
          return err(
            new MetadataError("InvalidInput", "credentials.expiration must be a Date or an RFC 3339 string", {
              field: "entry.credentials.expiration",
            }),
          );
        }
      }
      if (hasOwn(entry, "authorizationToken") && entry.authorizationToken !== undefined) {
        const token = entry.authorizationToken;
        if (typeof token !== "string" || token === "" || /[\r\n]/.test(token)) {
          return err(
            new MetadataError("InvalidInput", "authorizationToken must be a non-empty string without CR/LF", {
              field: "entry.authorizationToken",
            }),
          );
        }
      }
      credentials.set(id, Object.freeze({ ...entry }));
      credentialIds.add(id);
      log("credentials set (status %s)", entry.status);
      return ok(undefined);
    },

    removeCredentials(id) {
      if (!credentialIds.delete(id))
        return err(new MetadataError("NotFound", "no credentials are registered under that id"));
      credentials.delete(id);
      return ok(undefined);
    },

    clear() {
      tasks.clear();
      endpoints.clear();
      credentials.clear();
      credentialIds.clear();
      log("cleared");
    },

    get size() {
      return tasks.size;
    },
  };
  return registry;
}
