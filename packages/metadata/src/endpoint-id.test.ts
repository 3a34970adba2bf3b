import * as crypto from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ENDPOINT_ID_BYTES, endpointIdsEqual, isEndpointId, newEndpointId } from "./endpoint-id.js";

// Wrap timingSafeEqual in a spy (the real function still runs) to see when the comparison happens.
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

afterEach(() => {
  vi.mocked(crypto.timingSafeEqual).mockClear();
});

describe("newEndpointId", () => {
  it("makes 10,000 distinct, well-shaped, URL-path-safe ids", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = newEndpointId();
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(isEndpointId(id)).toBe(true);
      expect(encodeURIComponent(id)).toBe(id);
      ids.add(id);
    }
    expect(ids.size).toBe(10_000);
  });

  it("carries at least 128 random bits", () => {
    expect(ENDPOINT_ID_BYTES * 8).toBeGreaterThanOrEqual(128);
    expect(newEndpointId()).toHaveLength(ENDPOINT_ID_BYTES * 2);
  });

  it("uses every hex digit in every position over many ids (no fixed or biased characters)", () => {
    const seen = Array.from({ length: 32 }, () => new Set<string>());
    for (let i = 0; i < 2_000; i++) {
      const id = newEndpointId();
      for (let p = 0; p < id.length; p++) seen[p]?.add(id.charAt(p));
    }
    for (const position of seen) expect(position.size).toBe(16);
  });
});

describe("isEndpointId", () => {
  it.each([
    ["", false],
    ["0123456789abcdef0123456789abcdef", true],
    ["0123456789ABCDEF0123456789ABCDEF", false],
    ["0123456789abcdef0123456789abcde", false],
    ["0123456789abcdef0123456789abcdef0", false],
    ["0123456789abcdef0123456789abcdeg", false],
    ["../../../../../../../etc/passwd00", false],
    ["0123456789abcdef0123456789abcde\n", false],
  ])("%j -> %s", (value, expected) => {
    expect(isEndpointId(value)).toBe(expected);
  });

  it("rejects non-strings", () => {
    expect(isEndpointId(undefined)).toBe(false);
    expect(isEndpointId(123)).toBe(false);
    expect(isEndpointId({ toString: () => "0123456789abcdef0123456789abcdef" })).toBe(false);
  });
});

describe("endpointIdsEqual", () => {
  const id = "0123456789abcdef0123456789abcdef";

  it("is true for equal ids, via a constant-time comparison", () => {
    expect(endpointIdsEqual(id, `${id}`)).toBe(true);
    expect(crypto.timingSafeEqual).toHaveBeenCalledTimes(1);
  });

  it("is false when the first, a middle or the last character differs", () => {
    expect(endpointIdsEqual(id, `f${id.slice(1)}`)).toBe(false);
    expect(endpointIdsEqual(id, `${id.slice(0, 16)}x${id.slice(17)}`)).toBe(false);
    expect(endpointIdsEqual(id, `${id.slice(0, 31)}0`)).toBe(false);
    expect(crypto.timingSafeEqual).toHaveBeenCalledTimes(3);
  });

  it("is false for different lengths without comparing contents", () => {
    expect(endpointIdsEqual(id, id.slice(0, 31))).toBe(false);
    expect(endpointIdsEqual(id, `${id}0`)).toBe(false);
    expect(endpointIdsEqual("", id)).toBe(false);
    expect(crypto.timingSafeEqual).not.toHaveBeenCalled();
  });

  it("compares bytes, so strings of equal UTF-16 length but different UTF-8 length are unequal", () => {
    expect("é".length).toBe("e".length);
    expect(endpointIdsEqual("é", "e")).toBe(false);
    expect(crypto.timingSafeEqual).not.toHaveBeenCalled();
  });

  it("treats two empty strings as equal and non-strings as unequal", () => {
    expect(endpointIdsEqual("", "")).toBe(true);
    expect(endpointIdsEqual(undefined as unknown as string, id)).toBe(false);
  });

  it("agrees with === on random pairs", () => {
    for (let i = 0; i < 200; i++) {
      const a = newEndpointId();
      const b = i % 2 === 0 ? a : newEndpointId();
      expect(endpointIdsEqual(a, b)).toBe(a === b);
    }
  });
});
