import { describe, expect, it } from "vitest";
import { MetadataError } from "./errors.js";
import { formatTimestamp } from "./timestamp.js";

function formatted(value: Date | string): string {
  return formatTimestamp(value)._unsafeUnwrap();
}

function failure(value: unknown, field?: string): MetadataError {
  const error = formatTimestamp(value as string, field)._unsafeUnwrapErr();
  expect(MetadataError.is(error)).toBe(true);
  expect(error.code).toBe("InvalidInput");
  return error;
}

describe("formatTimestamp (Go time.Time JSON after .UTC())", () => {
  it("keeps nanoseconds from strings", () => {
    expect(formatted("2023-07-21T15:45:44.954460792Z")).toBe("2023-07-21T15:45:44.954460792Z");
  });

  it("drops trailing zeros of the fraction, and the fraction when zero, like RFC3339Nano", () => {
    expect(formatted("2020-10-02T00:43:06.312884650Z")).toBe("2020-10-02T00:43:06.31288465Z");
    expect(formatted("2025-01-17T20:56:02.000000000Z")).toBe("2025-01-17T20:56:02Z");
    expect(formatted("2025-01-17T20:56:02Z")).toBe("2025-01-17T20:56:02Z");
    expect(formatted("2025-01-17T20:56:02.5Z")).toBe("2025-01-17T20:56:02.5Z");
  });

  it("formats Dates with millisecond precision", () => {
    expect(formatted(new Date(Date.UTC(2023, 6, 21, 15, 45, 44, 954)))).toBe("2023-07-21T15:45:44.954Z");
    expect(formatted(new Date(Date.UTC(2023, 6, 21, 15, 45, 44, 120)))).toBe("2023-07-21T15:45:44.12Z");
    expect(formatted(new Date(Date.UTC(2023, 6, 21, 15, 45, 44, 0)))).toBe("2023-07-21T15:45:44Z");
  });

  it("converts offsets to UTC, across day and year boundaries, keeping the nanoseconds", () => {
    expect(formatted("2023-07-21T17:45:44.954460792+02:00")).toBe("2023-07-21T15:45:44.954460792Z");
    expect(formatted("2023-12-31T20:30:00.000000001-05:30")).toBe("2024-01-01T02:00:00.000000001Z");
    expect(formatted("2024-01-01T00:15:00+01:00")).toBe("2023-12-31T23:15:00Z");
  });

  it("accepts lower-case t and z and leap days", () => {
    expect(formatted("2024-02-29t12:00:00z")).toBe("2024-02-29T12:00:00Z");
  });

  it("handles years 0..99 literally (not as 1900..1999)", () => {
    expect(formatted("0001-01-01T00:00:00Z")).toBe("0001-01-01T00:00:00Z");
    expect(formatted("0099-06-15T10:00:00.1Z")).toBe("0099-06-15T10:00:00.1Z");
  });

  it.each([
    ["2023-02-30T00:00:00Z", "does not exist"],
    ["2023-02-29T00:00:00Z", "does not exist"],
    ["2023-13-01T00:00:00Z", "does not exist"],
    ["2023-07-21 15:45:44Z", "not an RFC 3339"],
    ["2023-07-21T15:45:44", "not an RFC 3339"],
    ["2023-07-21T15:45:44.1234567890Z", "not an RFC 3339"],
    ["2023-07-21T24:00:00Z", "out-of-range"],
    ["2023-07-21T23:60:00Z", "out-of-range"],
    ["2023-07-21T23:59:60Z", "out-of-range"],
    ["2023-07-21T23:59:59+24:00", "out-of-range"],
    ["0000-01-01T00:00:00+00:01", "outside the years"],
    ["yesterday", "not an RFC 3339"],
  ])("rejects %j", (value, why) => {
    expect(failure(value).message).toContain(why);
  });

  it("rejects invalid Dates, years beyond 9999 and non-timestamps, naming the field", () => {
    const invalid = failure(new Date(Number.NaN), "container.createdAt");
    expect(invalid.field).toBe("container.createdAt");
    expect(invalid.message).toMatch(/^container\.createdAt: .*invalid/);
    expect(failure(new Date(Date.UTC(10000, 0, 1))).message).toContain("year 10000");
    expect(failure(new Date(Date.UTC(-1, 0, 1))).message).toContain("year -1");
    expect(failure(1_690_000_000_000).message).toContain("got number");
  });
});
