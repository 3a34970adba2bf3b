// What the task-file parsers (ECS task definitions, Kubernetes Pods) share: a JSON object type and the one
// validation failure they throw internally and turn into an `InvalidTaskDefinition` error at their boundary.

/** A parsed JSON object. */
export type Json = Record<string, unknown>;

/** A validation failure at `field`, thrown inside a parser and caught where it returns a result. */
export class Invalid {
  constructor(
    readonly field: string,
    readonly message: string,
  ) {}
}

/** Throws an {@link Invalid} for `field`. */
export function fail(field: string, message: string): never {
  throw new Invalid(field, message);
}

/** True for a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
