import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSpec } from "./build.js";
import { DEFAULT_PATH_ENV } from "./defaults.js";
import { parseImageConfig, withImageConfig } from "./image-config.js";
import { withArgs, withEnv, withUser } from "./options.js";

const ctx = { namespace: "test", id: "i1" };

// The shape of an OCI image config blob (what the manifest's config descriptor points at).
const IMAGE = {
  architecture: "amd64",
  os: "linux",
  config: {
    User: "app",
    Env: ["PATH=/app/bin:/usr/bin:/bin", "LANG=C.UTF-8", "MODE=image"],
    Entrypoint: ["/app/bin/server"],
    Cmd: ["--port", "8080"],
    WorkingDir: "/app",
    StopSignal: "SIGQUIT",
    Labels: { "org.opencontainers.image.title": "server" },
    ExposedPorts: { "8080/tcp": {} },
  },
  rootfs: { type: "layers", diff_ids: [] },
};

describe("parseImageConfig", () => {
  it("reads the config object from the whole document, its bytes, its text or the object alone", () => {
    const expected = {
      User: "app",
      Env: IMAGE.config.Env,
      Entrypoint: ["/app/bin/server"],
      Cmd: ["--port", "8080"],
      WorkingDir: "/app",
      StopSignal: "SIGQUIT",
      Labels: { "org.opencontainers.image.title": "server" },
    };
    expect(parseImageConfig(IMAGE)._unsafeUnwrap()).toEqual(expected);
    expect(parseImageConfig(JSON.stringify(IMAGE))._unsafeUnwrap()).toEqual(expected);
    expect(parseImageConfig(Buffer.from(JSON.stringify(IMAGE)))._unsafeUnwrap()).toEqual(expected);
    expect(parseImageConfig(IMAGE.config)._unsafeUnwrap()).toEqual(expected);
  });

  it("treats a document without config (or with nulls) as empty", () => {
    expect(parseImageConfig({ architecture: "amd64", os: "linux", rootfs: {} })._unsafeUnwrap()).toEqual({});
    expect(parseImageConfig({ config: { Env: null, Cmd: null, User: "" } })._unsafeUnwrap()).toEqual({});
  });

  it.each([
    ["not JSON", "{"],
    ["an array", "[]"],
    ["Cmd of the wrong type", { config: { Cmd: "sh" } }],
    ["Env with a number", { config: { Env: [1] } }],
    ["User of the wrong type", { config: { User: 0 } }],
    ["Labels of the wrong type", { config: { Labels: { a: 1 } } }],
  ])("rejects %s", (_what, input) => {
    expect(parseImageConfig(input)._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });
});

describe("withImageConfig", () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "berth-spec-image-"));
    mkdirSync(join(root, "etc"));
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n");
    writeFileSync(join(root, "etc/group"), "root:x:0:\napp:x:1000:\nstaff:x:50:app\nwheel:x:10:root\n");
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("sets args, env, cwd and the resolved user as containerd's WithImageConfig", async () => {
    const spec = (await buildSpec({ ...ctx, rootfs: root }, withImageConfig(IMAGE)))._unsafeUnwrap();
    expect(spec.process?.args).toEqual(["/app/bin/server", "--port", "8080"]);
    expect(spec.process?.env).toEqual(IMAGE.config.Env);
    expect(spec.process?.cwd).toBe("/app");
    expect(spec.process?.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 50] });
  });

  it("lets earlier env win over the image's, and later options override args and user", async () => {
    const spec = (
      await buildSpec(
        { ...ctx, rootfs: root },
        withEnv(["MODE=task", "EXTRA=1"]),
        withImageConfig(IMAGE),
        withArgs("/bin/sh"),
        withUser("0:0"),
      )
    )._unsafeUnwrap();
    expect(spec.process?.env).toEqual(["PATH=/app/bin:/usr/bin:/bin", "LANG=C.UTF-8", "MODE=task", "EXTRA=1"]);
    expect(spec.process?.args).toEqual(["/bin/sh"]);
    expect(spec.process?.user).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10] });
  });

  it("replaces Cmd but keeps the entrypoint with options.args", async () => {
    const spec = (
      await buildSpec({ ...ctx, rootfs: root }, withImageConfig(IMAGE, { args: ["--help"] }))
    )._unsafeUnwrap();
    expect(spec.process?.args).toEqual(["/app/bin/server", "--help"]);
  });

  it("defaults PATH and cwd for an image without them, and reads root's groups when a rootfs is known", async () => {
    const spec = (await buildSpec({ ...ctx, rootfs: root }, withImageConfig({ Cmd: ["sh"] })))._unsafeUnwrap();
    expect(spec.process?.env).toEqual([DEFAULT_PATH_ENV]);
    expect(spec.process?.cwd).toBe("/");
    expect(spec.process?.user).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10] });
    const noRoot = (await buildSpec(ctx, withImageConfig({ Cmd: ["sh"] })))._unsafeUnwrap();
    expect(noRoot.process?.user).toEqual({ uid: 0, gid: 0 });
  });

  it("fails when the image's user does not exist in the image", async () => {
    const e = (await buildSpec({ ...ctx, rootfs: root }, withImageConfig({ User: "ghost" })))._unsafeUnwrapErr();
    expect(e.code).toBe("NotFound");
    expect((await buildSpec(ctx, withImageConfig("nope")))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });
});
