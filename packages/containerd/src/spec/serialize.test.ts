import { describe, expect, it } from "vitest";
import { Any } from "../gen/google/protobuf/any.js";
import { defaultSpec } from "./defaults.js";
import {
  LINUX_RESOURCES_TYPE_URL,
  linuxResourcesAny,
  PROCESS_TYPE_URL,
  parseProcessAny,
  parseSpecAny,
  processAny,
  SPEC_TYPE_URL,
  specAny,
} from "./serialize.js";

describe("spec serialization", () => {
  const spec = defaultSpec({ namespace: "ns", id: "c" });

  it("uses containerd's typeurl registrations (runtime-spec major 1)", () => {
    expect(SPEC_TYPE_URL).toBe("types.containerd.io/opencontainers/runtime-spec/1/Spec");
    expect(PROCESS_TYPE_URL).toBe("types.containerd.io/opencontainers/runtime-spec/1/Process");
    expect(LINUX_RESOURCES_TYPE_URL).toBe("types.containerd.io/opencontainers/runtime-spec/1/LinuxResources");
  });

  it("packs the spec as JSON bytes and round-trips", () => {
    const any = specAny(spec);
    expect(any.typeUrl).toBe(SPEC_TYPE_URL);
    expect(Buffer.isBuffer(any.value)).toBe(true);
    expect(JSON.parse(Buffer.from(any.value).toString("utf8"))).toEqual(spec);
    expect(parseSpecAny(any)._unsafeUnwrap()).toEqual(spec);
  });

  it("fits the generated protobuf Any and survives its wire encoding", () => {
    const wire = Any.encode(Any.fromPartial(specAny(spec))).finish();
    const back = Any.decode(wire);
    expect(parseSpecAny(back)._unsafeUnwrap()).toEqual(spec);
  });

  it("packs processes and resources", () => {
    const process = spec.process;
    if (!process) throw new Error("default spec has a process");
    const p = processAny({ ...process, args: ["sh"] });
    expect(p.typeUrl).toBe(PROCESS_TYPE_URL);
    expect(parseProcessAny(p)._unsafeUnwrap().args).toEqual(["sh"]);
    const r = linuxResourcesAny({ memory: { limit: 1 } });
    expect(r.typeUrl).toBe(LINUX_RESOURCES_TYPE_URL);
    expect(JSON.parse(Buffer.from(r.value).toString())).toEqual({ memory: { limit: 1 } });
  });

  it("rejects the wrong type URL, bad JSON and non-spec documents", () => {
    expect(parseSpecAny({ typeUrl: PROCESS_TYPE_URL, value: specAny(spec).value })._unsafeUnwrapErr().code).toBe(
      "InvalidArgument",
    );
    expect(parseSpecAny({ typeUrl: SPEC_TYPE_URL, value: Buffer.from("{") })._unsafeUnwrapErr().message).toContain(
      "JSON",
    );
    expect(parseSpecAny({ typeUrl: SPEC_TYPE_URL, value: Buffer.from("[]") })._unsafeUnwrapErr().code).toBe(
      "InvalidArgument",
    );
    expect(parseSpecAny({ typeUrl: SPEC_TYPE_URL, value: Buffer.from("{}") })._unsafeUnwrapErr().message).toContain(
      "ociVersion",
    );
    expect(parseProcessAny({ typeUrl: PROCESS_TYPE_URL, value: Buffer.from("{}") })._unsafeUnwrapErr().code).toBe(
      "InvalidArgument",
    );
  });
});
