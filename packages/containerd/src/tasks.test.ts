import { describe, expect, it } from "vitest";
import { signalNumber } from "./tasks.js";

describe("signalNumber", () => {
  it("resolves names with and without SIG, any case, and numbers", () => {
    expect(signalNumber("SIGTERM")._unsafeUnwrap()).toBe(15);
    expect(signalNumber("kill")._unsafeUnwrap()).toBe(9);
    expect(signalNumber(2)._unsafeUnwrap()).toBe(2);
  });

  it("rejects unknown names and out-of-range numbers with InvalidArgument", () => {
    expect(signalNumber("SIGNOPE")._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect(signalNumber(0)._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect(signalNumber(99)._unsafeUnwrapErr().message).toContain("1..64");
  });
});
