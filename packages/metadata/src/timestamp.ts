import { err, ok, type Result } from "neverthrow";
import { MetadataError } from "./errors.js";

/**
 * A point in time as the model accepts it: a `Date` (millisecond precision) or an RFC 3339 string
 * with up to nine fractional digits (nanosecond precision, e.g. `"2023-07-21T15:45:44.954460792Z"`),
 * with `Z` or a numeric offset.
 */
export type Timestamp = Date | string;

// RFC 3339 date-time (section 5.6), the form Go's time.RFC3339Nano produces and parses.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const MIN_YEAR = 0;
const MAX_YEAR = 9999;

function invalid(field: string, why: string): Result<never, MetadataError> {
  return err(new MetadataError("InvalidInput", `${field}: ${why}`, { field }));
}

// Go's RFC3339Nano layout (".999999999"): the fraction loses its trailing zeros and disappears when zero.
function fraction(nanos: string): string {
  const trimmed = nanos.replace(/0+$/, "");
  return trimmed.length === 0 ? "" : `.${trimmed}`;
}

function formatDate(value: Date, field: string): Result<string, MetadataError> {
  const ms = value.getTime();
  if (Number.isNaN(ms)) return invalid(field, "the Date is invalid (NaN); pass a valid Date or an RFC 3339 string");
  const year = value.getUTCFullYear();
  if (year < MIN_YEAR || year > MAX_YEAR) {
    return invalid(field, `year ${year} is outside [0, 9999], which RFC 3339 (and Go's encoder) cannot represent`);
  }
  const iso = value.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ for years 0..9999
  return ok(`${iso.slice(0, 19)}${fraction(iso.slice(20, 23))}Z`);
}

function formatString(value: string, field: string): Result<string, MetadataError> {
  const m = RFC3339.exec(value);
  const hint = 'use RFC 3339, e.g. "2023-07-21T15:45:44.954460792Z"';
  if (!m) return invalid(field, `${JSON.stringify(value)} is not an RFC 3339 timestamp (${hint})`);
  const [, y, mo, d, h, mi, s, frac = "", zulu, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const offsetHours = zulu ? 0 : Number(oh);
  const offsetMinutes = zulu ? 0 : Number(om);
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) {
    return invalid(field, `${JSON.stringify(value)} has an out-of-range time or offset (${hint})`);
  }
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999.
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day);
  local.setUTCHours(hour, minute, second, 0);
  if (local.getUTCFullYear() !== year || local.getUTCMonth() !== month - 1 || local.getUTCDate() !== day) {
    return invalid(field, `${JSON.stringify(value)} names a day that does not exist (${hint})`);
  }
  const offsetMs = (sign === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  const utc = new Date(local.getTime() - offsetMs);
  const utcYear = utc.getUTCFullYear();
  if (utcYear < MIN_YEAR || utcYear > MAX_YEAR) {
    return invalid(field, `${JSON.stringify(value)} falls outside the years 0..9999 in UTC`);
  }
  return ok(`${utc.toISOString().slice(0, 19)}${fraction(frac.padEnd(9, "0"))}Z`);
}

/**
 * Formats a timestamp exactly as the ECS agent's JSON shows it: Go's `time.Time` marshalled after
 * `.UTC()`, i.e. RFC 3339 in UTC with up to nine fractional digits and trailing zeros removed
 * (`"2020-10-02T00:43:06.31288465Z"`, `"2025-01-17T20:56:02Z"`). String input keeps its nanoseconds;
 * offsets are converted to UTC.
 *
 * Fails with `InvalidInput` for an invalid `Date`, a string that is not RFC 3339, or a year outside
 * 0..9999 (which Go refuses to encode).
 */
export function formatTimestamp(value: Timestamp, field = "timestamp"): Result<string, MetadataError> {
  if (value instanceof Date) return formatDate(value, field);
  if (typeof value === "string") return formatString(value, field);
  return invalid(field, `expected a Date or an RFC 3339 string, got ${typeof value}`);
}
