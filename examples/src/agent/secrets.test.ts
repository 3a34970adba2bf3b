import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileSecrets } from "./secrets.js";

describe("fileSecrets", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-agent-secrets-"));
    writeFileSync(join(dir, "token"), "s3cret\n");
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the file named by valueFrom, dropping one trailing newline", async () => {
    expect(await fileSecrets(dir)("token", {})).toEqual({ ok: true, value: "s3cret" });
  });

  it.each(["/etc/passwd", "../x", "a/../../x", "."])("refuses %s, which leaves the directory", async (ref) => {
    const r = await fileSecrets(dir)(ref, {});
    expect(!r.ok && r.error.message).toMatch(/must name a file inside/);
  });

  it("reports a missing secret", async () => {
    const r = await fileSecrets(dir)("nope", {});
    expect(!r.ok && r.error.code).toBe("ContainerFailed");
    expect(!r.ok && r.error.message).toMatch(/reading secret "nope"/);
  });
});
