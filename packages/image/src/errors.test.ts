import { describe, expect, it } from "vitest";
import { ImageError, type ImageErrorCode } from "./errors.js";

const CODES: ReadonlyArray<readonly [ImageErrorCode, boolean]> = [
  ["InvalidReference", false],
  ["InvalidPlatform", false],
  ["NotFound", false],
  ["Unauthorized", false],
  ["Denied", false],
  ["TooManyRequests", true],
  ["DigestMismatch", false],
  ["UnsupportedMediaType", false],
  ["NoMatchingPlatform", false],
  ["Network", true],
  ["Aborted", false],
  ["InvalidManifest", false],
];

describe("ImageError", () => {
  it.each(CODES)("%s: retryable is %s", (code, retryable) => {
    const e = new ImageError(code, "what went wrong; how to fix it");
    expect(e.code).toBe(code);
    expect(e.retryable).toBe(retryable);
    expect(e._tag).toBe("ImageError");
    expect(e.name).toBe("ImageError");
    expect(e.message).toBe("what went wrong; how to fix it");
    expect(e).toBeInstanceOf(Error);
  });

  it("carries the reference and the cause", () => {
    const cause = new Error("ECONNRESET");
    const e = new ImageError("Network", "connection reset", { reference: "busybox:latest", cause });
    expect(e.reference).toBe("busybox:latest");
    expect(e.cause).toBe(cause);
    expect(String(e)).toBe("ImageError: connection reset");
  });

  it("leaves reference and cause undefined when not given", () => {
    const e = new ImageError("NotFound", "no such manifest");
    expect(e.reference).toBeUndefined();
    expect(e.cause).toBeUndefined();
    expect("cause" in e).toBe(false);
  });

  it("is() recognizes copies by _tag, not by class", () => {
    expect(ImageError.is(new ImageError("Aborted", "aborted"))).toBe(true);
    expect(ImageError.is({ _tag: "ImageError", code: "Aborted" })).toBe(true);
    expect(ImageError.is(new Error("x"))).toBe(false);
    expect(ImageError.is({ _tag: "NetnsError" })).toBe(false);
    expect(ImageError.is(null)).toBe(false);
    expect(ImageError.is(undefined)).toBe(false);
    expect(ImageError.is("ImageError")).toBe(false);
  });
});
