import { randomBytes, timingSafeEqual } from "node:crypto";

declare const endpointIdBrand: unique symbol;

/**
 * The secret path segment that identifies one container to the metadata server
 * (`/v4/<endpointId>`, `/v3/<endpointId>`): 32 lowercase hex digits carrying 128 random bits.
 * Branded so a plain string has to pass {@link isEndpointId} (or come from {@link newEndpointId}) first.
 */
export type EndpointId = string & { readonly [endpointIdBrand]: true };

/** How many random bytes an endpoint id carries (128 bits). */
export const ENDPOINT_ID_BYTES = 16;

const ENDPOINT_ID = /^[0-9a-f]{32}$/;

/**
 * Creates a new endpoint id from the operating system's CSPRNG (`crypto.randomBytes`): 128 bits,
 * hex-encoded, so it is safe in a URL path without escaping and cannot be guessed or enumerated.
 */
export function newEndpointId(): EndpointId {
  return randomBytes(ENDPOINT_ID_BYTES).toString("hex") as EndpointId;
}

/** True when `value` has the shape of an id made by {@link newEndpointId} (32 lowercase hex digits). */
export function isEndpointId(value: unknown): value is EndpointId {
  return typeof value === "string" && ENDPOINT_ID.test(value);
}

/**
 * Compares two endpoint ids in constant time (for equal lengths), so a caller probing the server
 * cannot learn a valid id one character at a time from response timings. Strings of different
 * byte lengths are unequal without any comparison of their contents.
 */
export function endpointIdsEqual(a: string, b: string): boolean {
  if (typeof a !== "string" || typeof b !== "string") return false;
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}
