// JSON text as Go's encoding/json writes it for libcni's maps: object keys sorted (Go marshals map keys in byte
// order), and '<', '>', '&', U+2028 and U+2029 escaped. libcni builds each plugin's stdin and the cache file this
// way, so berth writes the same bytes.

const GO_ESCAPES = /[<>&\u2028\u2029]/g;

function goEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

function sortKeys(_key: string, value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) sorted[k] = (value as Record<string, unknown>)[k];
  return sorted;
}

/**
 * Serializes `value` as Go's `json.Marshal` serializes a `map[string]interface{}` holding it: keys of every
 * object sorted, HTML-sensitive characters escaped. `undefined` members are dropped, as `JSON.stringify` does.
 * @internal
 */
export function goMarshal(value: unknown): string {
  return escapeGo(JSON.stringify(value, sortKeys) ?? "null");
}

/** Escapes the characters Go's encoder escapes in already-serialized JSON text. @internal */
export function escapeGo(json: string): string {
  return json.replace(GO_ESCAPES, goEscape);
}
