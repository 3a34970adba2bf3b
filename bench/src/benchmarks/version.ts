// berth's containerd client overhead: `client.version()` against the same unary call made with
// bare @grpc/grpc-js (hand-written codec, same channel options), on the same daemon socket.
// No process start-up on either side: both run in this process on warm connections.
import { createContainerd } from "@berth/containerd";
import { stack } from "@berth/testkit";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { credentials, Metadata, makeGenericClientConstructor } from "@grpc/grpc-js";
import type { Benchmark, Side } from "../harness.js";

const CALLS_PER_ROUND = 300;

function decodeVersion(buf: Buffer): { version: string; revision: string } {
  const r = new BinaryReader(buf);
  const out = { version: "", revision: "" };
  while (r.pos < r.len) {
    const [field, wireType] = r.tag();
    if (field === 1) out.version = r.string();
    else if (field === 2) out.revision = r.string();
    else r.skip(wireType);
  }
  return out;
}

const RawVersion = makeGenericClientConstructor(
  {
    version: {
      path: "/containerd.services.version.v1.Version/Version",
      requestStream: false,
      responseStream: false,
      requestSerialize: () => Buffer.alloc(0),
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: decodeVersion,
    },
  },
  "Version",
);

export const versionBenchmark: Benchmark = {
  name: "version",
  description: `containerd Version RPC, ${CALLS_PER_ROUND} sequential calls per round: berth client vs bare grpc-js`,
  async prepare() {
    const s = stack();
    if (!s) throw new Error("the stack is not up: run `bash scripts/stack up` as root first");
    const comparisons = [];
    const closers: Array<() => void> = [];
    for (const daemon of s.daemons) {
      const client = createContainerd({ address: daemon.address })._unsafeUnwrap();
      closers.push(() => void client.close());
      const raw = new RawVersion(`unix://${daemon.address}`, credentials.createInsecure(), {
        "grpc.max_receive_message_length": 16 * 1024 * 1024,
        "grpc.max_send_message_length": 16 * 1024 * 1024,
        "grpc.default_authority": "localhost",
      });
      closers.push(() => raw.close());
      const rawCall = () =>
        new Promise<void>((resolve, reject) => {
          const md = new Metadata();
          md.set("containerd-namespace", "default");
          (
            raw as unknown as Record<string, (req: unknown, md: Metadata, cb: (e: Error | null) => void) => void>
          ).version?.({}, md, (e) => (e ? reject(e) : resolve()));
        });
      const berth: Side = {
        name: "berth",
        async run() {
          const t = performance.now();
          for (let i = 0; i < CALLS_PER_ROUND; i++) (await client.version())._unsafeUnwrap();
          return performance.now() - t;
        },
      };
      const peer: Side = {
        name: "grpc-js",
        async run() {
          const t = performance.now();
          for (let i = 0; i < CALLS_PER_ROUND; i++) await rawCall();
          return performance.now() - t;
        },
      };
      comparisons.push({
        name: `version-${daemon.name}`,
        unit: `ms per ${CALLS_PER_ROUND} calls`,
        berth,
        peer,
        rounds: 15,
        warmup: 2,
        goal: { op: "<=", value: 1.1 },
        metric: "time",
      } as const);
    }
    return {
      comparisons,
      teardown: async () => {
        for (const close of closers) close();
      },
    };
  },
};
