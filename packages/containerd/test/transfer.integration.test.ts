// containerd 2.x's Transfer service: a daemon-side pull from the stack's registry that then runs,
// and on 1.6 (no Transfer service) a clear Unimplemented pointing at the client-side puller.
import { text } from "node:stream/consumers";
import { stack, uniqueName } from "@berth/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Containerd, createContainerd, runContainer } from "../src/index.js";
import { expectEmpty, tearDownNamespace, unwrap } from "./helpers.js";

const s = stack();

describe.skipIf(!s).each(s?.daemons ?? [])("Transfer service on $name", (daemon) => {
  let client: Containerd;
  const image = `${s?.registry}/berth/busybox:latest`;

  beforeAll(() => {
    client = createContainerd({
      address: daemon.address,
      namespace: uniqueName("xfer"),
      timeoutMs: 120_000,
    })._unsafeUnwrap();
  });
  afterAll(async () => {
    await tearDownNamespace(client, daemon.snapshotter);
    await expectEmpty(client, daemon.snapshotter);
    await client.namespaces.delete(client.namespace);
    await client.close();
  }, 120_000);

  it("pulls inside the daemon where the service exists, else says to pull client-side", async () => {
    const info = unwrap(await client.info());
    const pulled = await client.transfer.pull(image, { plainHttp: true, snapshotter: daemon.snapshotter });
    if (!info.capabilities.transfer) {
      expect(daemon.name).toBe("containerd-1.6");
      expect(pulled._unsafeUnwrapErr().code).toBe("Unimplemented");
      expect(pulled._unsafeUnwrapErr().message).toContain("@berth/image");
      return;
    }
    unwrap(pulled);
    expect(unwrap(await client.images.get(image)).name).toBe(image);
    const run = unwrap(
      await runContainer(client, { image, snapshotter: daemon.snapshotter, args: ["echo", "pulled by the daemon"] }),
    );
    try {
      const [out, exit] = await Promise.all([text(run.io?.stdout ?? process.stdin), run.exited]);
      expect(out).toBe("pulled by the daemon\n");
      expect(unwrap(exit).exitStatus).toBe(0);
    } finally {
      unwrap(await run.remove());
    }
  });

  it("rejects an empty reference before calling the daemon", async () => {
    expect((await client.transfer.pull(" "))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });
});
