import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode, ExtData } from "@msgpack/msgpack";
import { afterEach, describe, expect, it } from "vitest";
import { startForwardReceiver } from "../test/forward-receiver.js";
import { encodeForward, eventTime, FluentdForwarder } from "./fluentd-forwarder.js";
import { LineSplitter, type LogBatch } from "./line-splitter.js";

const T = 1_700_000_000_123_456_789n;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function batch(text: string, stream: "stdout" | "stderr" = "stdout", max?: number): LogBatch {
  const s = new LineSplitter(max);
  return { stream, timeNs: T, lines: [...s.push(Buffer.from(text)), ...s.end()] };
}
function sockPath(): string {
  const d = mkdtempSync(join(tmpdir(), "berth-fwd-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return join(d, "fluent.sock");
}

describe("encodeForward", () => {
  it("encodes Forward mode with EventTime and Docker's record fields", () => {
    const msg = decode(encodeForward("web", "c0ffee", "web-1", [batch("hi\n", "stderr")])) as unknown[];
    expect(msg).toEqual([
      "web",
      [
        [
          new ExtData(0, new Uint8Array([0x65, 0x53, 0xf1, 0x00, 0x07, 0x5b, 0xcd, 0x15])),
          { container_id: "c0ffee", container_name: "web-1", source: "stderr", log: "hi" },
        ],
      ],
    ]);
    expect(eventTime(T).data).toEqual(new Uint8Array([0x65, 0x53, 0xf1, 0x00, 0x07, 0x5b, 0xcd, 0x15]));
  });
  it("adds Docker's partial fields to the pieces of a long line", () => {
    const [, entries] = decode(encodeForward("t", "c", "n", [batch("abcdefghij\n", "stdout", 4)])) as [
      string,
      Array<[unknown, Record<string, string>]>,
    ];
    expect(entries.map(([, r]) => [r.log, r.partial_ordinal, r.partial_last])).toEqual([
      ["abcd", "1", "false"],
      ["efgh", "2", "false"],
      ["ij", "3", "true"],
    ]);
    expect(new Set(entries.map(([, r]) => r.partial_id)).size).toBe(1);
    expect(entries.every(([, r]) => r.partial_message === "true")).toBe(true);
  });
});

describe("FluentdForwarder over a unix socket", () => {
  it("delivers batches and reconnects after the receiver restarts", async () => {
    const path = sockPath();
    let rx = await startForwardReceiver(path);
    const fwd = new FluentdForwarder({
      address: { protocol: "unix", path },
      tag: "t",
      containerId: "c",
      containerName: "n",
      writeTimeoutMs: 3000,
    });
    cleanups.push(() => fwd.close());
    await fwd.write([batch("one\ntwo\n")]);
    await rx.waitFor(2, 3000);
    expect(rx.events.map((e) => [e.tag, e.timeNs, e.record.log])).toEqual([
      ["t", T, "one"],
      ["t", T, "two"],
    ]);
    await rx.kill();
    rx = await startForwardReceiver(path);
    cleanups.push(() => rx.kill());
    // The first write after the peer vanished may still land in the dead socket's buffer; keep writing.
    for (let i = 0; i < 20 && rx.events.length === 0; i++) {
      await fwd.write([batch("three\n")]).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
    }
    await rx.waitFor(1, 3000);
    expect(rx.events[0]?.record.log).toBe("three");
  });

  it("fails a write within the timeout when nobody listens", async () => {
    const fwd = new FluentdForwarder({
      address: { protocol: "unix", path: sockPath() },
      tag: "t",
      containerId: "c",
      containerName: "n",
      writeTimeoutMs: 300,
    });
    const t = Date.now();
    await expect(fwd.write([batch("x\n")])).rejects.toThrow(/cannot reach fluentd/);
    expect(Date.now() - t).toBeLessThan(2000);
    await fwd.close();
  });
});
