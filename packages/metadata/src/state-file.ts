import { err, ok, type Result } from "neverthrow";
import { MetadataError } from "./errors.js";
import { type CredentialsEntry, createTaskRegistry, type RoleCredentials, type TaskRegistry } from "./registry.js";
import type { TaskState } from "./v4-types.js";

/** One task of a state file: the model and each container's endpoint id (runtime id to endpoint id). */
export interface StateFileTask {
  readonly task: TaskState;
  readonly endpoints: Readonly<Record<string, string>>;
}

/** One credentials entry of a state file. Without `credentials` the id answers `CredentialsUninitialized`. */
export interface StateFileCredentials {
  readonly id: string;
  readonly credentials?: RoleCredentials;
  readonly authorizationToken?: string;
}

/**
 * A JSON snapshot of what a metadata server serves, for trying the server out or for tests:
 * `{ "tasks": [{ "task": {...TaskState}, "endpoints": { "<runtimeId>": "<endpointId>" } }],
 *    "credentials": [{ "id": "...", "credentials": {...RoleCredentials}, "authorizationToken": "..." }] }`.
 * Timestamps are RFC 3339 strings.
 */
export interface StateFile {
  readonly tasks?: readonly StateFileTask[];
  readonly credentials?: readonly StateFileCredentials[];
}

function invalid(field: string, message: string): Result<never, MetadataError> {
  return err(new MetadataError("InvalidInput", `${field}: ${message}`, { field }));
}

/**
 * Parses a state file and builds a fresh {@link TaskRegistry} from it. Fails with `InvalidInput`
 * (naming the field, e.g. `tasks[0].task.containers[1].startedAt`) for malformed JSON or entries,
 * and `AlreadyExists` for duplicate task ARNs or endpoint ids.
 */
export function registryFromStateFile(text: string): Result<TaskRegistry, MetadataError> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    return err(
      new MetadataError("InvalidInput", `the state file is not valid JSON: ${(cause as Error).message}`, { cause }),
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return invalid("$", 'expected an object like {"tasks": [...], "credentials": [...]}');
  }
  const state = parsed as StateFile;
  const registry = createTaskRegistry();
  const tasks = state.tasks ?? [];
  if (!Array.isArray(tasks)) return invalid("tasks", "expected a list");
  for (const [i, entry] of tasks.entries()) {
    if (typeof entry !== "object" || entry === null || typeof entry.task !== "object" || entry.task === null) {
      return invalid(`tasks[${i}]`, 'expected {"task": {...}, "endpoints": {...}}');
    }
    const done = registry.registerTask(entry.task, entry.endpoints ?? {});
    if (done.isErr()) {
      const e = done.error;
      const field = `tasks[${i}].${e.field ?? "task"}`;
      return err(new MetadataError(e.code, `${field}: ${e.message}`, { field, cause: e }));
    }
  }
  const creds = state.credentials ?? [];
  if (!Array.isArray(creds)) return invalid("credentials", "expected a list");
  for (const [i, c] of creds.entries()) {
    if (typeof c !== "object" || c === null) return invalid(`credentials[${i}]`, "expected an object");
    const entry: CredentialsEntry =
      c.credentials === undefined
        ? {
            status: "uninitialized",
            ...(c.authorizationToken === undefined ? {} : { authorizationToken: c.authorizationToken }),
          }
        : {
            status: "ready",
            credentials: c.credentials,
            ...(c.authorizationToken === undefined ? {} : { authorizationToken: c.authorizationToken }),
          };
    const done = registry.setCredentials(c.id, entry);
    if (done.isErr()) {
      const field = `credentials[${i}].${done.error.field ?? "id"}`;
      return err(new MetadataError("InvalidInput", `${field}: ${done.error.message}`, { field, cause: done.error }));
    }
  }
  return ok(registry);
}
