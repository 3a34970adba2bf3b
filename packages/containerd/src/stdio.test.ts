import { closeSync, constants, existsSync, openSync, readSync, writeSync } from "node:fs";
import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { createFifoIO } from "./stdio.js";

// These tests play the shim's part: open the FIFOs' other ends, as containerd's shim does.
describe("FifoIO", () => {
  it("ends stdout once the writer closes, without losing bytes written before attach", async () => {
    const io = (await createFifoIO({ id: "t1" }))._unsafeUnwrap();
    try {
      const stdoutPath = io.paths.stdout as string;
      expect(io.paths.stderr).toBeDefined();
      const shim = openSync(stdoutPath, constants.O_WRONLY | constants.O_NONBLOCK);
      writeSync(shim, "before attach\n");
      io.attach()._unsafeUnwrap();
      const out = text(io.stdout as NodeJS.ReadableStream);
      writeSync(shim, "after attach\n");
      closeSync(shim);
      // stderr had no writer at all: it must end too.
      expect(await out).toBe("before attach\nafter attach\n");
      await text(io.stderr as NodeJS.ReadableStream);
      await io.drained();
    } finally {
      await io.close();
    }
  });

  it("writes stdin and merges output into stdout with a terminal", async () => {
    const io = (await createFifoIO({ id: "t2", stdin: true, terminal: true }))._unsafeUnwrap();
    try {
      expect(io.paths.stderr).toBeUndefined();
      expect(io.paths.terminal).toBe(true);
      const reader = openSync(io.paths.stdin as string, constants.O_RDONLY | constants.O_NONBLOCK);
      await new Promise<void>((resolve) => io.stdin?.write("hello", () => resolve()));
      const buf = Buffer.alloc(16);
      const n = readSync(reader, buf);
      expect(buf.subarray(0, n).toString()).toBe("hello");
      closeSync(reader);
    } finally {
      await io.close();
    }
  });

  it("removes its FIFO directory on close", async () => {
    const io = (await createFifoIO({ id: "t3" }))._unsafeUnwrap();
    const path = io.paths.stdout as string;
    expect(existsSync(path)).toBe(true);
    await io.close();
    await io.close();
    expect(existsSync(path)).toBe(false);
  });
});
