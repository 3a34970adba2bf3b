import { describe, expect, it } from "vitest";
import { ipv4Network } from "./run-task.js";

describe("ipv4Network", () => {
  it.each([
    ["10.233.5.2/24", "10.233.5.0/24"],
    ["10.233.5.130/25", "10.233.5.128/25"],
    ["192.168.7.9/16", "192.168.0.0/16"],
    ["10.0.0.1/32", "10.0.0.1/32"],
    ["10.1.2.3/0", "0.0.0.0/0"],
  ])("%s is in %s", (cidr, network) => {
    expect(ipv4Network(cidr)).toBe(network);
  });

  it.each(["10.0.0.1", "10.0.0.256/24", "10.0.0.1/33", "fd00::1/64", "a.b.c.d/8"])("refuses %s", (cidr) => {
    expect(ipv4Network(cidr)).toBeUndefined();
  });
});
