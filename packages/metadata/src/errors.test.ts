import { describe, expect, it } from "vitest";
import { MetadataError } from "./errors.js";

describe("MetadataError", () => {
  it("carries its tag, code, field, name and cause", () => {
    const cause = new Error("boom");
    const error = new MetadataError("InvalidInput", "task.arn: expected a string", { field: "task.arn", cause });
    expect(error._tag).toBe("MetadataError");
    expect(error.code).toBe("InvalidInput");
    expect(error.field).toBe("task.arn");
    expect(error.name).toBe("MetadataError");
    expect(error.message).toBe("task.arn: expected a string");
    expect(error.cause).toBe(cause);
    expect(error).toBeInstanceOf(Error);
  });

  it("leaves field and cause unset when not given", () => {
    const error = new MetadataError("Closed", "the server is closed");
    expect(error.field).toBeUndefined();
    expect("cause" in error).toBe(false);
  });

  it("is() recognises the tag, also on a copy from another package instance", () => {
    expect(MetadataError.is(new MetadataError("NotFound", "x"))).toBe(true);
    expect(MetadataError.is({ _tag: "MetadataError", code: "NotFound" })).toBe(true);
    expect(MetadataError.is(new Error("x"))).toBe(false);
    expect(MetadataError.is({ _tag: "NetnsError" })).toBe(false);
    expect(MetadataError.is(null)).toBe(false);
    expect(MetadataError.is("MetadataError")).toBe(false);
  });
});
