import { describe, expect, it } from "vitest";
import { parseProcNetDev, readNetnsCounters } from "./net-dev.js";
import { parseProcStatCpu } from "./stats-provider.js";

const SAMPLE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1234      10    0    0    0     0          0         0     1234      10    0    0    0     0       0          0
  eth0: 5381528    1930    1    2    0     0          0         0  4381528    1830    3    4    0     0       0          0
`;

describe("parseProcNetDev", () => {
  it("reads receive and transmit counters per interface, leaving out lo", () => {
    expect(parseProcNetDev(SAMPLE)._unsafeUnwrap()).toStrictEqual({
      eth0: {
        rx_bytes: 5381528,
        rx_packets: 1930,
        rx_errors: 1,
        rx_dropped: 2,
        tx_bytes: 4381528,
        tx_packets: 1830,
        tx_errors: 3,
        tx_dropped: 4,
      },
    });
    expect(Object.keys(parseProcNetDev(SAMPLE, [])._unsafeUnwrap())).toStrictEqual(["lo", "eth0"]);
  });

  it("refuses text that is not /proc/net/dev", () => {
    expect(parseProcNetDev("hello")._unsafeUnwrapErr().code).toBe("InvalidInput");
    const broken = SAMPLE.replace("5381528", "x");
    expect(parseProcNetDev(broken)._unsafeUnwrapErr().code).toBe("InvalidInput");
  });
});

describe("readNetnsCounters", () => {
  it("refuses malformed namespace names and relative paths before running anything", async () => {
    expect((await readNetnsCounters({ name: "../x" }))._unsafeUnwrapErr().field).toBe("netns.name");
    expect((await readNetnsCounters({ path: "run/netns/x" }))._unsafeUnwrapErr().field).toBe("netns.path");
  });

  it("reports a failing command as ProviderFailed", async () => {
    const r = await readNetnsCounters({ name: "x" }, { ipPath: "/nonexistent/ip" });
    expect(r._unsafeUnwrapErr().code).toBe("ProviderFailed");
  });
});

describe("parseProcStatCpu", () => {
  it("sums the first eight fields of the cpu line at 100 ticks per second, in nanoseconds", () => {
    expect(parseProcStatCpu("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1\n")._unsafeUnwrap()).toBe(36 * 1e7);
    expect(parseProcStatCpu("intr 1 2")._unsafeUnwrapErr().code).toBe("InvalidInput");
  });
});
