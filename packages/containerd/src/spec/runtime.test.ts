import { describe, expect, it } from "vitest";
import { Options } from "../gen/containerd/runc/options/oci.js";
import {
  decodeRuntime,
  encodeRuntime,
  parseRuncOptionsAny,
  RUNC_OPTIONS_TYPE_URL,
  RUNC_V2_RUNTIME,
  runcOptionsAny,
} from "./runtime.js";

describe("runc options", () => {
  it("encodes to containerd.runc.v1.Options wire bytes (field numbers of oci.proto)", () => {
    const any = runcOptionsAny({ binaryName: "crun", root: "/r", systemdCgroup: true })._unsafeUnwrap();
    expect(any.typeUrl).toBe(RUNC_OPTIONS_TYPE_URL);
    // binary_name = 6 (0x32), root = 7 (0x3a), systemd_cgroup = 9 (0x48).
    expect(Buffer.from(any.value).toString("hex")).toBe(["32046372756e", "3a022f72", "4801"].join(""));
  });

  it("round-trips every field through the generated message", () => {
    const all = {
      binaryName: "/usr/bin/runc",
      root: "/run/berth/runc",
      systemdCgroup: true,
      noPivotRoot: true,
      noNewKeyring: true,
      shimCgroup: "/berth/shims",
      ioUid: 1000,
      ioGid: 1001,
      criuImagePath: "/ckpt",
      criuWorkPath: "/ckpt-work",
    };
    const any = runcOptionsAny(all)._unsafeUnwrap();
    expect(Options.decode(any.value)).toMatchObject(all);
    expect(parseRuncOptionsAny(any)._unsafeUnwrap()).toEqual(all);
  });

  it("encodes no options as an empty message and rejects bad ids", () => {
    expect(runcOptionsAny({})._unsafeUnwrap().value).toHaveLength(0);
    expect(parseRuncOptionsAny(runcOptionsAny({})._unsafeUnwrap())._unsafeUnwrap()).toEqual({});
    expect(runcOptionsAny({ ioUid: -1 })._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect(parseRuncOptionsAny({ typeUrl: "x", value: new Uint8Array() })._unsafeUnwrapErr().code).toBe(
      "InvalidArgument",
    );
    expect(
      parseRuncOptionsAny({ typeUrl: RUNC_OPTIONS_TYPE_URL, value: Uint8Array.of(0x32, 0x10) })._unsafeUnwrapErr().code,
    ).toBe("InvalidArgument");
  });
});

describe("encodeRuntime", () => {
  it("encodes runc with typed options", () => {
    const r = encodeRuntime({ name: RUNC_V2_RUNTIME, options: { systemdCgroup: true } })._unsafeUnwrap();
    expect(r.name).toBe("io.containerd.runc.v2");
    expect(r.options?.typeUrl).toBe("containerd.runc.v1.Options");
    expect(parseRuncOptionsAny(r.options ?? { typeUrl: "", value: new Uint8Array() })._unsafeUnwrap()).toEqual({
      systemdCgroup: true,
    });
    expect(encodeRuntime({ name: RUNC_V2_RUNTIME })._unsafeUnwrap()).toEqual({
      name: RUNC_V2_RUNTIME,
      options: undefined,
    });
  });

  it("passes another shim's packed options through", () => {
    const options = { typeUrl: "io.containerd.kata.v2.Options", value: Uint8Array.of(1, 2, 3) };
    const encoded = encodeRuntime({ name: "io.containerd.kata.v2", options })._unsafeUnwrap();
    expect(encoded.name).toBe("io.containerd.kata.v2");
    expect(encoded.options?.typeUrl).toBe(options.typeUrl);
    expect(Buffer.isBuffer(encoded.options?.value)).toBe(true);
    expect([...(encoded.options?.value ?? [])]).toEqual([1, 2, 3]);
    expect(encodeRuntime({ name: "aws.firecracker" })._unsafeUnwrap().options).toBeUndefined();
    expect(encodeRuntime({ name: "/opt/shims/containerd-shim-custom-v2" })._unsafeUnwrap().name).toBe(
      "/opt/shims/containerd-shim-custom-v2",
    );
  });

  it("rejects empty or malformed names and mismatched options", () => {
    expect(encodeRuntime({ name: "" })._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect(encodeRuntime({ name: "io containerd" })._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect(
      encodeRuntime({
        name: RUNC_V2_RUNTIME,
        options: { typeUrl: "other", value: new Uint8Array() },
      })._unsafeUnwrapErr().code,
    ).toBe("InvalidArgument");
    const typedForOther = { name: "io.containerd.kata.v2", options: { binaryName: "x" } } as unknown as Parameters<
      typeof encodeRuntime
    >[0];
    expect(encodeRuntime(typedForOther)._unsafeUnwrapErr().message).toContain("pack them as an Any");
  });
});

describe("decodeRuntime", () => {
  it("round-trips runc with typed options and other shims with packed ones", () => {
    const runc = encodeRuntime({ name: RUNC_V2_RUNTIME, options: { root: "/r", binaryName: "crun" } })._unsafeUnwrap();
    expect(decodeRuntime(runc.name, runc.options)._unsafeUnwrap()).toEqual({
      name: RUNC_V2_RUNTIME,
      options: { root: "/r", binaryName: "crun" },
    });
    expect(decodeRuntime(RUNC_V2_RUNTIME, undefined)._unsafeUnwrap()).toEqual({ name: RUNC_V2_RUNTIME });
    const kata = decodeRuntime("io.containerd.kata.v2", { typeUrl: "k", value: Uint8Array.of(9) })._unsafeUnwrap();
    expect(kata.name).toBe("io.containerd.kata.v2");
    expect(kata.options).toEqual({ typeUrl: "k", value: Buffer.of(9) });
    expect(decodeRuntime("aws.firecracker", undefined)._unsafeUnwrap()).toEqual({ name: "aws.firecracker" });
  });

  it("fails on undecodable runc options", () => {
    const bad = { typeUrl: RUNC_OPTIONS_TYPE_URL, value: Uint8Array.of(0x32, 0x10) };
    expect(decodeRuntime(RUNC_V2_RUNTIME, bad)._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });
});
