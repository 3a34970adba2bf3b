import { describe, expect, it } from "vitest";
import { parseRetryAfter, parseWwwAuthenticate, TokenCache } from "./auth.js";

describe("parseWwwAuthenticate", () => {
  it("reads a Bearer challenge with quoted parameters", () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    );
    expect(c).toEqual({
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/busybox:pull",
      },
    });
  });

  it("keeps commas and escaped quotes inside quoted values, lowercases names", () => {
    const [c] = parseWwwAuthenticate(
      'bearer Realm="https://r/t", Scope="repository:a:pull,push", Error="say \\"hi\\""',
    );
    expect(c?.params).toEqual({ realm: "https://r/t", scope: "repository:a:pull,push", error: 'say "hi"' });
  });

  it("reads Basic and several challenges in one header, skipping unknown schemes", () => {
    const cs = parseWwwAuthenticate(
      'Negotiate abc, Basic realm="Registry Realm", Bearer realm=https://x/token,service=s',
    );
    expect(cs.map((c) => c.scheme)).toEqual(["basic", "bearer"]);
    expect(cs[0]?.params.realm).toBe("Registry Realm");
    expect(cs[1]?.params).toEqual({ realm: "https://x/token", service: "s" });
  });

  it("returns nothing for an empty or unknown header", () => {
    expect(parseWwwAuthenticate("")).toEqual([]);
    expect(parseWwwAuthenticate("Digest realm=x")).toEqual([]);
  });
});

describe("TokenCache", () => {
  it("keeps a token until 5 seconds before expiry, per key", () => {
    let now = 1_000_000;
    const cache = new TokenCache(() => now);
    const a = TokenCache.key("https://r/t", "svc", "repository:a:pull");
    const b = TokenCache.key("https://r/t", "svc", "repository:b:pull");
    cache.set(a, "tok-a", 60, undefined);
    expect(cache.get(a)).toBe("tok-a");
    expect(cache.get(b)).toBeUndefined();
    now += 54_000;
    expect(cache.get(a)).toBe("tok-a");
    now += 2_000;
    expect(cache.get(a)).toBeUndefined();
  });

  it("defaults to 60 s, counts from issued_at, and forgets on delete", () => {
    let now = Date.parse("2026-01-01T00:01:00Z");
    const cache = new TokenCache(() => now);
    cache.set("k", "t", undefined, "2026-01-01T00:00:30Z");
    expect(cache.get("k")).toBe("t");
    now = Date.parse("2026-01-01T00:01:26Z");
    expect(cache.get("k")).toBeUndefined();
    cache.set("k2", "t2", 300, undefined);
    cache.delete("k2");
    expect(cache.get("k2")).toBeUndefined();
  });
});

describe("parseRetryAfter", () => {
  it("reads delta seconds and HTTP dates", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:10 GMT", now)).toBe(10_000);
    expect(parseRetryAfter("Thu, 01 Jan 2025 00:00:10 GMT", now)).toBe(0);
  });
  it("ignores absent or garbage values", () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter("")).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
  });
});
