// Shared setup of the containerd integration tests: a client in a fresh namespace with the
// stack's test image imported through berth, and a teardown that proves nothing is left.
import type { StackDaemon } from "@berth/testkit";
import { uniqueName } from "@berth/testkit";
import type { Result } from "neverthrow";
import { expect } from "vitest";
import { type Containerd, createContainerd, importImage, removeContainer } from "../src/index.js";

export const TEST_IMAGE = "docker.io/library/busybox-test:latest";

/** A client in a new namespace on `daemon`, with the test image imported from `source`. */
export async function setUpNamespace(daemon: StackDaemon, source: string): Promise<Containerd> {
  const client = createContainerd({
    address: daemon.address,
    namespace: uniqueName("ctd"),
    timeoutMs: 60_000,
  })._unsafeUnwrap();
  const imported = await importImage(client, source, { snapshotter: daemon.snapshotter });
  if (imported.isErr()) throw imported.error;
  return client;
}

/** Removes every container of the client's namespace, then the images (GC runs), then checks emptiness. */
export async function tearDownNamespace(client: Containerd, snapshotter: string): Promise<void> {
  const containers = await client.containers.list();
  for (const c of containers.isOk() ? containers.value : []) await removeContainer(client, c.id, { snapshotter });
  const images = await client.images.list();
  for (const i of images.isOk() ? images.value : []) await client.images.delete(i.name, true);
  const leases = await client.leases.list();
  for (const l of leases.isOk() ? leases.value : []) await client.leases.delete(l.id, true);
  const statuses = await client.content.statuses();
  for (const s of statuses.isOk() ? statuses.value : []) await client.content.abort(s.ref);
}

/** Asserts the namespace holds nothing: no containers, tasks, snapshots, leases, blobs, ingests. */
export async function expectEmpty(client: Containerd, snapshotter: string): Promise<void> {
  expect((await client.containers.list())._unsafeUnwrap()).toEqual([]);
  expect((await client.tasks.list())._unsafeUnwrap()).toEqual([]);
  expect((await client.snapshots(snapshotter).list())._unsafeUnwrap()).toEqual([]);
  expect((await client.leases.list())._unsafeUnwrap()).toEqual([]);
  expect((await client.content.list())._unsafeUnwrap()).toEqual([]);
  expect((await client.content.statuses())._unsafeUnwrap()).toEqual([]);
}

/** Polls `read` until it returns a value that passes `ok`, or the time is up (returns the last value). */
export async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await read();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  return v;
}

/** The value of an Ok result; throws the actual error of an Err (so failures show containerd's message). */
export function unwrap<T, E>(result: Result<T, E>): T {
  if (result.isErr()) throw result.error;
  return result.value;
}
