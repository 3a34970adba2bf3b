import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { environmentFromFiles, localEnvironmentFiles, parseEnvironmentFile } from "./environment-files.js";
import { ok } from "./result.js";
import type { EnvironmentFileDefinition } from "./task-definition.js";

const file = (value: string): EnvironmentFileDefinition => ({ value, type: "s3" });

describe("parseEnvironmentFile", () => {
  it("follows ECS's rules: # comments and blank lines skipped, split at the first =, spaces and quotes kept", () => {
    const text = [
      "# a comment",
      "",
      "   ",
      "PLAIN=value",
      "EQUALS=a=b=c",
      'QUOTED="kept as is"',
      "SPACES= around ",
      "EMPTY=",
      "HASH=not # a comment",
      "WINDOWS=crlf\r",
      "PLAIN=later line wins",
      "",
    ].join("\n");
    expect(parseEnvironmentFile(text, "app.env")).toEqual(
      ok([
        ["PLAIN", "later line wins"],
        ["EQUALS", "a=b=c"],
        ["QUOTED", '"kept as is"'],
        ["SPACES", " around "],
        ["EMPTY", ""],
        ["HASH", "not # a comment"],
        ["WINDOWS", "crlf"],
      ]),
    );
  });

  it.each([
    ["no =", "JUST_A_NAME\n", 1],
    ["an empty name", "A=1\n=value\n", 2],
    ["a name with a space", "\nMY VAR=1\n", 2],
  ])("refuses a line with %s, naming the file and line", (_what, text, line) => {
    const r = parseEnvironmentFile(text, "conf/app.env");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.code).toBe("ContainerFailed");
    expect(!r.ok && r.error.message).toBe(
      `environment file conf/app.env line ${line} is not NAME=VALUE (names have no spaces; comments start with #)`,
    );
  });
});

describe("localEnvironmentFiles", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-agent-envfiles-"));
    mkdirSync(join(dir, "bucket", "conf"), { recursive: true });
    writeFileSync(join(dir, "bucket", "conf", "app.env"), "A=from s3\n");
    writeFileSync(join(dir, "local.env"), "A=local\n");
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads an S3 ARN as dir/bucket/key and a relative value as dir/value", async () => {
    const provider = localEnvironmentFiles(dir);
    expect(await provider(file("arn:aws:s3:::bucket/conf/app.env"), {})).toEqual(ok("A=from s3\n"));
    expect(await provider(file("arn:aws-cn:s3:::bucket/conf/app.env"), {})).toEqual(ok("A=from s3\n"));
    expect(await provider(file("local.env"), {})).toEqual(ok("A=local\n"));
  });

  it.each(["/etc/x.env", "../x.env", "a/../../x.env", "arn:aws:s3:::bucket/../../x.env"])(
    "refuses %s, which leaves the directory",
    async (value) => {
      const r = await localEnvironmentFiles(dir)(file(value), {});
      expect(!r.ok && r.error.message).toMatch(/must name a file inside/);
    },
  );

  it("reports a missing file", async () => {
    const r = await localEnvironmentFiles(dir)(file("nope.env"), {});
    expect(!r.ok && r.error.message).toMatch(/^reading environment file "nope.env" from .*ENOENT/);
  });
});

describe("environmentFromFiles", () => {
  const files: Record<string, string> = {
    "first.env": "# first\nSHARED=first\nONE=1\n",
    "second.env": "SHARED=second\nTWO=2\n",
    "bad.env": "oops\n",
  };
  const provider = async (f: EnvironmentFileDefinition) => ok(files[f.value] ?? "");

  it("lets an earlier file win over a later one", async () => {
    expect(await environmentFromFiles([file("first.env"), file("second.env")], provider)).toEqual(
      ok([
        ["SHARED", "first"],
        ["ONE", "1"],
        ["TWO", "2"],
      ]),
    );
    expect(await environmentFromFiles([file("second.env"), file("first.env")], provider)).toEqual(
      ok([
        ["SHARED", "second"],
        ["TWO", "2"],
        ["ONE", "1"],
      ]),
    );
  });

  it("fails on the first file that cannot be read or parsed", async () => {
    const r = await environmentFromFiles([file("first.env"), file("bad.env")], provider);
    expect(!r.ok && r.error.message).toMatch(/^environment file bad.env line 1 is not NAME=VALUE/);
  });
});
