// `pnpm berth import` and `pnpm berth run` against both daemons of the stack: import the test
// image's OCI archive without ctr, run commands with output, exit codes, stdin and --rm, and
// leave nothing behind (checked through the library, then the namespace is deleted).
import { createContainerd } from "@berth/containerd";
import { stack, uniqueName } from "@berth/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { runBerth as berth } from "./berth-cli.js";

const s = stack();
const IMAGE = "docker.io/library/busybox-test:latest";

describe.skipIf(!s).each(s?.daemons ?? [])("pnpm berth import / run on $name", (daemon) => {
  const namespace = uniqueName("cli");
  const at = ["--address", daemon.address, "--namespace", namespace];

  afterAll(async () => {
    await using client = createContainerd({ address: daemon.address, namespace })._unsafeUnwrap();
    const containers = await client.containers.list();
    expect(containers._unsafeUnwrap()).toEqual([]);
    await client.images.delete(IMAGE, true);
    expect((await client.snapshots(daemon.snapshotter).list())._unsafeUnwrap()).toEqual([]);
    expect((await client.leases.list())._unsafeUnwrap()).toEqual([]);
    (await client.namespaces.delete(namespace))._unsafeUnwrap();
  }, 60_000);

  it("imports the OCI archive", async () => {
    const r = await berth(["import", ...at, s?.env.TEST_IMAGE_ARCHIVE ?? ""]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${IMAGE}\\tsha256:[0-9a-f]{64}\\tunpacked \\(overlayfs\\)\\n$`));
  }, 60_000);

  it("runs a command after --, streams stdout and stderr and exits with its code", async () => {
    const r = await berth(["run", ...at, "--rm", IMAGE, "--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    expect(r).toEqual({ code: 7, stdout: "out\n", stderr: "err\n" });
  }, 60_000);

  it("forwards stdin with --stdin, and works without --", async () => {
    const r = await berth(["run", ...at, "--rm", "--stdin", IMAGE, "cat"], "typed\n");
    expect(r).toEqual({ code: 0, stdout: "typed\n", stderr: "" });
  }, 60_000);

  it("keeps the container without --rm (deleting its task), like ctr run", async () => {
    const id = uniqueName("keep");
    const r = await berth(["run", ...at, "--id", id, IMAGE, "--", "true"]);
    expect(r.code).toBe(0);
    await using client = createContainerd({ address: daemon.address, namespace })._unsafeUnwrap();
    expect((await client.containers.get(id))._unsafeUnwrap().id).toBe(id);
    expect((await client.tasks.get(id))._unsafeUnwrapErr().code).toBe("NotFound");
    const deleted = await client.containers.delete(id);
    expect(deleted.isErr() ? deleted.error.message : "deleted").toBe("deleted");
    // Once the container is gone nothing references its snapshot: containerd's garbage collector may remove it
    // before this call does (2.x schedules collection right after deletions).
    const removed = await client.snapshots(daemon.snapshotter).remove(id);
    if (removed.isErr()) expect(removed.error.code).toBe("NotFound");
  }, 60_000);

  it("fails with the image named when it is missing, and on bad usage", async () => {
    const missing = await berth(["run", ...at, "--rm", "docker.io/library/nope:latest", "--", "true"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('image "docker.io/library/nope:latest": not found');
    expect((await berth(["run", ...at])).code).toBe(2);
    expect((await berth(["import", ...at])).code).toBe(2);
  }, 60_000);
});
