// `pnpm berth pull` against the stack's registry: plain-line progress off a TTY, the resolved digest, a layout
// skopeo reads back, and clear failures.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { stack, uniqueName } from "@berth/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { runBerth as berth } from "./berth-cli.js";

const s = stack();

describe.skipIf(!s)("pnpm berth pull", () => {
  const dirs: string[] = [];
  const layout = () => {
    const d = join(mkdtempSync(join(tmpdir(), "berth-cli-pull-")), "layout");
    dirs.push(resolve(d, ".."));
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const ref = `${s?.registry ?? "127.0.0.1:5000"}/berth/busybox:latest`;

  it("pulls into an OCI layout, printing plain progress lines and the digest", async () => {
    const dir = layout();
    const r = await berth(["pull", ref, "--plain-http", "--oci-layout", dir]);
    expect(r.code).toBe(0);
    const digest = /^digest: (sha256:[0-9a-f]{64})$/m.exec(r.stdout)?.[1];
    expect(digest).toBeDefined();
    expect(r.stdout).toContain("phase fetch");
    expect(r.stdout).toMatch(/^progress 100% /m);
    const info = JSON.parse(execFileSync("skopeo", ["inspect", `oci:${dir}:latest`]).toString()) as { Digest: string };
    expect(info.Digest).toBe(digest);
    const json = await berth(["pull", ref, "--plain-http", "--oci-layout", dir, "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ digest, fetchedBytes: 0 });
  });

  it("fails clearly: HTTPS against a plain-HTTP registry, unknown tag, bad reference, containerd target", async () => {
    const https = await berth(["pull", ref, "--oci-layout", layout()]);
    expect(https.code).toBe(1);
    expect(https.stderr).toContain("--plain-http");
    const missing = await berth(["pull", `${ref}-nope`, "--plain-http", "--oci-layout", layout()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("not found");
    const bad = await berth(["pull", "UPPER/Case", "--oci-layout", layout()]);
    expect(bad.code).toBe(2);
    const both = await berth(["pull", ref, "--address", "/x.sock", "--oci-layout", layout()]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("exactly one destination");
    const none = await berth(["pull", ref, "--plain-http"]);
    expect(none.code).toBe(2);
    const noSocket = await berth(["pull", ref, "--plain-http", "--address", "/nonexistent/containerd.sock"]);
    expect(noSocket.code).toBe(1);
    expect(noSocket.stderr).toContain("no containerd socket");
    const transferToLayout = await berth(["pull", ref, "--transfer", "--oci-layout", layout()]);
    expect(transferToLayout.code).toBe(2);
    expect(transferToLayout.stderr).toContain("--transfer apply to containerd");
  });

  const cases = (s?.daemons ?? []).flatMap((daemon) => [
    { daemon, name: daemon.name, transfer: false },
    { daemon, name: daemon.name, transfer: true },
  ]);
  it.each(cases)(
    "pulls into containerd ($name, --transfer $transfer) so ctr runs the image",
    async ({ daemon, transfer }) => {
      const ns = uniqueName("clipull");
      const ctr = (...a: string[]) =>
        execFileSync(daemon.ctr, ["-a", daemon.address, "-n", ns, ...a], { encoding: "utf8", timeout: 60_000 });
      try {
        const r = await berth([
          "pull",
          ref,
          "--plain-http",
          "--address",
          daemon.address,
          "--namespace",
          ns,
          "--snapshotter",
          daemon.snapshotter,
          ...(transfer ? ["--transfer"] : []),
        ]);
        expect(r.code, r.stderr).toBe(0);
        const digest = /^digest: (sha256:[0-9a-f]{64})$/m.exec(r.stdout)?.[1];
        if (transfer && /^v?2\./.test(daemon.version)) {
          // containerd 2.x's Transfer service did the pull: no per-layer lines.
          expect(r.stdout).toMatch(/^pulled by containerd:/m);
          expect(r.stdout).not.toContain("phase unpack");
        } else {
          // berth's own path (1.x falls back to it with --transfer): every layer's unpack is reported.
          expect(r.stdout).toContain("phase unpack");
          expect(r.stdout).toMatch(/^unpacking layer 0 sha256:[0-9a-f]{64}$/m);
          expect(r.stdout).toMatch(/^unpacked layer 0 sha256:[0-9a-f]{64} in \d+\.\d\ds$/m);
        }
        expect(ctr("images", "ls")).toContain(digest);
        expect(ctr("run", "--rm", ref, uniqueName("clirun"), "echo", "hi").trim()).toBe("hi");
      } finally {
        const quiet = (...a: string[]) => {
          try {
            return ctr(...a);
          } catch {
            return "";
          }
        };
        quiet("images", "rm", "--sync", ref);
        for (const l of quiet("leases", "ls", "-q").split("\n").filter(Boolean)) quiet("leases", "rm", "--sync", l);
        for (let i = 0; i < 5; i++) {
          const snaps = quiet("snapshots", "ls").split("\n").slice(1).filter(Boolean);
          for (const line of snaps) quiet("snapshots", "rm", line.split(/\s+/)[0] ?? "");
        }
        const blobs = quiet("content", "ls", "-q").split("\n").filter(Boolean);
        if (blobs.length > 0) quiet("content", "rm", ...blobs);
        quiet("namespaces", "rm", ns);
      }
    },
  );
});
