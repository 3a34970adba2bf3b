import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dockerConfigCredentials, functionCredentials, staticCredentials } from "./credentials.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-creds-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const config = (o: unknown) => {
  const path = join(dir, "config.json");
  writeFileSync(path, JSON.stringify(o));
  return path;
};

describe("staticCredentials", () => {
  it("returns the entry for the registry, Docker Hub under its legacy key too, else anonymous", async () => {
    const p = staticCredentials({
      "ghcr.io": { username: "u", password: "p" },
      "https://index.docker.io/v1/": { identityToken: "rt" },
    });
    expect((await p("ghcr.io"))._unsafeUnwrap()).toEqual({ username: "u", password: "p" });
    expect((await p("docker.io"))._unsafeUnwrap()).toEqual({ identityToken: "rt" });
    expect((await p("quay.io"))._unsafeUnwrap()).toBeUndefined();
  });
});

describe("functionCredentials", () => {
  it("wraps an async function; its failures become Unauthorized", async () => {
    const ok = functionCredentials(async (r) => ({ username: "AWS", password: `token-for-${r}` }));
    expect((await ok("1.dkr.ecr.us-east-1.amazonaws.com"))._unsafeUnwrap()).toEqual({
      username: "AWS",
      password: "token-for-1.dkr.ecr.us-east-1.amazonaws.com",
    });
    const bad = functionCredentials(async () => {
      throw new Error("expired");
    });
    const e = (await bad("x.io"))._unsafeUnwrapErr();
    expect(e.code).toBe("Unauthorized");
    expect(e.message).toContain("expired");
  });
});

describe("dockerConfigCredentials", () => {
  it("reads auths: base64 user:password (colons in the password kept), username/password, identitytoken", async () => {
    const path = config({
      auths: {
        "127.0.0.1:5000": { auth: Buffer.from("alice:pa:ss").toString("base64") },
        "https://ghcr.io": { username: "bob", password: "pw" },
        "https://index.docker.io/v1/": { identitytoken: "refresh" },
      },
    });
    const p = dockerConfigCredentials({ path });
    expect((await p("127.0.0.1:5000"))._unsafeUnwrap()).toEqual({ username: "alice", password: "pa:ss" });
    expect((await p("ghcr.io"))._unsafeUnwrap()).toEqual({ username: "bob", password: "pw" });
    expect((await p("docker.io"))._unsafeUnwrap()).toEqual({ identityToken: "refresh" });
    expect((await p("quay.io"))._unsafeUnwrap()).toBeUndefined();
  });

  it("runs docker-credential-<helper> get from credHelpers, then credsStore", async () => {
    const helper = join(dir, "docker-credential-fake");
    writeFileSync(
      helper,
      `#!/bin/sh\nread host\ncase "$host" in\n  ecr.example) echo '{"ServerURL":"ecr.example","Username":"AWS","Secret":"tok"}' ;;\n  tok.example) echo '{"Username":"<token>","Secret":"rt"}' ;;\n  *) echo "credentials not found in native keychain"; exit 1 ;;\nesac\n`,
    );
    chmodSync(helper, 0o755);
    const path = config({ credHelpers: { "ecr.example": "fake" }, credsStore: "fake" });
    const p = dockerConfigCredentials({ path, helperDirectory: dir });
    expect((await p("ecr.example"))._unsafeUnwrap()).toEqual({ username: "AWS", password: "tok" });
    expect((await p("tok.example"))._unsafeUnwrap()).toEqual({ identityToken: "rt" });
    expect((await p("other.example"))._unsafeUnwrap()).toBeUndefined();
  });

  it("reports a missing helper, broken JSON and a bad auth field; a missing file is anonymous", async () => {
    const missing = dockerConfigCredentials({ path: config({ credsStore: "nope" }), helperDirectory: dir });
    expect((await missing("x.io"))._unsafeUnwrapErr().code).toBe("Unauthorized");
    writeFileSync(join(dir, "config.json"), "{oops");
    expect(
      (await dockerConfigCredentials({ path: join(dir, "config.json") })("x.io"))._unsafeUnwrapErr().message,
    ).toContain("not valid JSON");
    const bad = config({ auths: { "x.io": { auth: Buffer.from("nocolon").toString("base64") } } });
    expect((await dockerConfigCredentials({ path: bad })("x.io"))._unsafeUnwrapErr().code).toBe("Unauthorized");
    const none = dockerConfigCredentials({ path: join(dir, "absent.json") });
    expect((await none("x.io"))._unsafeUnwrap()).toBeUndefined();
  });
});
