import { describe, expect, it } from "vitest";
import { decodeEvent } from "./events.js";
import { ImageCreate } from "./gen/containerd/events/image.js";
import { TaskExit, TaskStart } from "./gen/containerd/events/task.js";

describe("decodeEvent", () => {
  it("decodes task events by their bare type URL, with timestamps as Date", () => {
    const value = Buffer.from(
      TaskExit.encode({
        containerId: "web",
        id: "web",
        pid: 42,
        exitStatus: 7,
        exitedAt: { seconds: 1_700_000_000n, nanos: 5e8 },
      }).finish(),
    );
    expect(decodeEvent({ typeUrl: "containerd.events.TaskExit", value })).toEqual({
      type: "TaskExit",
      containerId: "web",
      id: "web",
      pid: 42,
      exitStatus: 7,
      exitedAt: new Date(1_700_000_000_500),
    });
  });

  it("accepts a prefixed type URL", () => {
    const value = Buffer.from(TaskStart.encode({ containerId: "a", pid: 9 }).finish());
    expect(decodeEvent({ typeUrl: "type.googleapis.com/containerd.events.TaskStart", value })).toEqual({
      type: "TaskStart",
      containerId: "a",
      pid: 9,
    });
  });

  it("decodes image events of the images service package", () => {
    const value = Buffer.from(
      ImageCreate.encode({ name: "docker.io/library/busybox:latest", labels: { a: "b" } }).finish(),
    );
    expect(decodeEvent({ typeUrl: "containerd.services.images.v1.ImageCreate", value })).toEqual({
      type: "ImageCreate",
      name: "docker.io/library/busybox:latest",
      labels: { a: "b" },
    });
  });

  it("passes unknown events through undecoded", () => {
    const e = decodeEvent({ typeUrl: "example.Custom", value: Buffer.from([1, 2]) });
    expect(e).toEqual({ type: "Other", payload: { typeUrl: "example.Custom", value: new Uint8Array([1, 2]) } });
    expect(decodeEvent(undefined)).toEqual({ type: "Other", payload: undefined });
  });
});
