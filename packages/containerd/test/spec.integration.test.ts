// Specs built by berth's spec builder, run by the real runc through `ctr run --config` (which
// takes a complete spec and creates the container from it as is) on containerd 1.6 and 2.1. The
// root filesystem is the busybox test image's layer, unpacked into a temporary directory, so the
// user names come from the image's real /etc/passwd and /etc/group.
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stack, uniqueName } from "@berth/testkit";
import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ContainersClient, CreateContainerRequest } from "../src/gen/containerd/services/containers/v1/containers.js";
import {
  buildSpec,
  currentCapabilities,
  DEFAULT_CAPABILITIES,
  encodeRuntime,
  KNOWN_CAPABILITIES,
  RUNC_V2_RUNTIME,
  rootfsFromMounts,
  type Spec,
  type SpecOpt,
  specAny,
  validateSpec,
  withAddedCapabilities,
  withArgs,
  withCpuShares,
  withCpus,
  withEnv,
  withHostname,
  withImageConfig,
  withMemoryLimit,
  withNetworkNamespacePath,
  withPidsLimit,
  withPrivileged,
  withReadonlyRootfs,
  withRlimit,
  withRootfsPath,
  withSeccomp,
  withUser,
} from "../src/spec/index.js";

const s = stack();
const layout = s?.testImageLayout;

interface Blob {
  digest: string;
}

function blobPath(digest: string): string {
  return join(layout ?? "", "blobs", ...digest.split(":"));
}

/**
 * runc removes a container's cgroup but not the `/<namespace>` parent containerd's cgroup path
 * implies; remove those (empty) directories under every hierarchy, v1 and v2.
 */
function removeNamespaceCgroups(namespace: string): void {
  const root = "/sys/fs/cgroup";
  const candidates = [join(root, namespace)];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.isDirectory()) candidates.push(join(root, entry.name, namespace));
  }
  for (const dir of candidates) {
    try {
      rmdirSync(dir);
    } catch {
      // absent, or not empty (then a container is still running: its own cleanup reports that)
    }
  }
}

function capMask(caps: readonly string[]): string {
  let mask = 0n;
  for (const c of caps) mask |= 1n << BigInt(KNOWN_CAPABILITIES.indexOf(c));
  return mask.toString(16).padStart(16, "0");
}

describe.skipIf(!s || !layout).each(s?.daemons ?? [])("specs built by berth run under runc on $name", (daemon) => {
  let work: string;
  let rootfs: string;
  let imageConfig: object;
  const cleanups: (() => void)[] = [];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "berth-spec-it-"));
    rootfs = join(work, "rootfs");
    execFileSync("mkdir", ["-p", rootfs]);
    const index = JSON.parse(readFileSync(join(layout ?? "", "index.json"), "utf8")) as { manifests: Blob[] };
    const manifestDigest = index.manifests[0]?.digest ?? "";
    const manifest = JSON.parse(readFileSync(blobPath(manifestDigest), "utf8")) as { config: Blob; layers: Blob[] };
    for (const layer of manifest.layers) execFileSync("tar", ["-xzf", blobPath(layer.digest), "-C", rootfs]);
    imageConfig = JSON.parse(readFileSync(blobPath(manifest.config.digest), "utf8")) as object;
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  afterEach(() => {
    // Runs even when the test failed: newest first (containers before their namespace).
    for (const c of cleanups.splice(0).reverse()) {
      try {
        c();
      } catch {
        // best effort: later cleanups still run
      }
    }
  });

  function ctr(namespace: string, ...args: string[]) {
    return spawnSync(daemon.ctr, ["--address", daemon.address, "--namespace", namespace, ...args], {
      encoding: "utf8",
      timeout: 60_000,
    });
  }

  /** A fresh containerd namespace and container id, removed after the test. */
  function names(): { namespace: string; id: string } {
    const namespace = uniqueName("spec");
    const id = uniqueName("c");
    cleanups.push(() => {
      ctr(namespace, "namespaces", "remove", namespace);
      removeNamespaceCgroups(namespace);
    });
    cleanups.push(() => {
      ctr(namespace, "task", "kill", "--signal", "SIGKILL", id);
      for (let i = 0; i < 50; i += 1) {
        if (ctr(namespace, "task", "delete", id).status === 0) break;
        if (!ctr(namespace, "task", "ls").stdout.includes(id)) break;
        spawnSync("sleep", ["0.1"]);
      }
      ctr(namespace, "containers", "delete", id);
    });
    return { namespace, id };
  }

  async function build(namespace: string, id: string, ...opts: SpecOpt[]): Promise<Spec> {
    const spec = await buildSpec(
      { namespace, id, rootfs },
      withRootfsPath(rootfs),
      withImageConfig(imageConfig),
      ...opts,
    );
    // What runc would refuse fails here first.
    return validateSpec(spec._unsafeUnwrap())._unsafeUnwrap();
  }

  function writeSpec(spec: Spec): string {
    const file = join(work, `${uniqueName("spec")}.json`);
    writeFileSync(file, JSON.stringify(spec));
    return file;
  }

  /** `ctr run --rm --config`: runs to completion and returns its output. */
  function runToCompletion(namespace: string, id: string, spec: Spec) {
    const r = ctr(namespace, "run", "--rm", "--config", writeSpec(spec), id);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it("equals the spec `ctr` generates for the same image, apart from the documented differences", async () => {
    const archive = s?.env.TEST_IMAGE_ARCHIVE;
    const ref = s?.testImageRef;
    if (!archive || !ref) throw new Error("the stack env lacks TEST_IMAGE_ARCHIVE / TEST_IMAGE_REF");
    const namespace = uniqueName("spec");
    const id = uniqueName("c");
    cleanups.push(() => {
      ctr(namespace, "containers", "delete", id);
      ctr(namespace, "images", "remove", "--sync", ref);
      for (let i = 0; i < 20; i += 1) {
        if (ctr(namespace, "namespaces", "remove", namespace).status === 0) break;
        const snaps = ctr(namespace, "snapshots", "ls").stdout.split("\n").slice(1);
        for (const key of snaps.map((l) => l.split(/\s+/)[0]).filter((k): k is string => !!k)) {
          ctr(namespace, "snapshots", "remove", key);
        }
        const blobs = ctr(namespace, "content", "ls", "--quiet")
          .stdout.split("\n")
          .filter((b) => b !== "");
        if (blobs.length > 0) ctr(namespace, "content", "remove", ...blobs);
      }
      removeNamespaceCgroups(namespace);
    });
    const imported = ctr(namespace, "images", "import", archive);
    expect(imported.status, imported.stderr).toBe(0);
    const created = ctr(namespace, "containers", "create", ref, id);
    expect(created.status, created.stderr).toBe(0);
    const theirs = (JSON.parse(ctr(namespace, "containers", "info", id).stdout) as { Spec: Spec }).Spec;
    const ours = (await buildSpec({ namespace, id, rootfs }, withImageConfig(imageConfig)))._unsafeUnwrap();
    // The differences defaults.test.ts documents: the declared version, and 1.6 not yet masking powercap.
    const expected = structuredClone(theirs);
    expected.ociVersion = ours.ociVersion;
    if (expected.linux) expected.linux.maskedPaths = ours.linux?.maskedPaths ?? [];
    expect(ours).toEqual(expected);
    expect(theirs.linux?.cgroupsPath).toBe(`/${namespace}/${id}`);

    // The container's snapshot, read without mounting it: the image's nobody resolves from its layers.
    const mountCmd = ctr(namespace, "snapshots", "mounts", "/mnt", id).stdout.trim();
    const m = /^mount -t (\S+) (\S+) \S+ -o (\S+)$/.exec(mountCmd);
    expect(m, mountCmd).not.toBeNull();
    const rootfsLayers = rootfsFromMounts([
      { type: m?.[1] ?? "", source: m?.[2] ?? "", options: (m?.[3] ?? "").split(",") },
    ])._unsafeUnwrap();
    const fromSnapshot = (await buildSpec({ namespace, id, rootfs: rootfsLayers }, withUser("nobody")))._unsafeUnwrap();
    expect(fromSnapshot.process?.user).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534] });
  });

  it("runs as the image's nobody with a hostname on a read-only root", async () => {
    const { namespace, id } = names();
    const spec = await build(
      namespace,
      id,
      withUser("nobody"),
      withHostname("berth-spec"),
      withReadonlyRootfs(),
      withEnv(["GREETING=hi"]),
      withArgs(
        "sh",
        "-c",
        'id -u; id -g; id -G; hostname; touch /probe 2>/dev/null && echo rw || echo ro; echo "$PATH $GREETING"',
      ),
    );
    expect(spec.process?.user).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534] });
    const r = runToCompletion(namespace, id, spec);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["65534", "65534", "65534", "berth-spec", "ro", "/bin hi"]);
    expect(existsSync(join(rootfs, "probe"))).toBe(false);
  });

  it("applies containerd's default confinement (capabilities, no-new-privs, rlimit, masks, read-only /sys)", async () => {
    const { namespace, id } = names();
    const spec = await build(
      namespace,
      id,
      withArgs(
        "sh",
        "-c",
        [
          "grep -E '^(CapBnd|CapEff|NoNewPrivs):' /proc/self/status | tr -s '\\t' ' '",
          "ulimit -n",
          "wc -c < /proc/timer_list",
          "touch /sys/probe 2>/dev/null && echo sys-rw || echo sys-ro",
          "hostname",
        ].join("; "),
      ),
    );
    const r = runToCompletion(namespace, id, spec);
    expect(r.status).toBe(0);
    const mask = capMask(DEFAULT_CAPABILITIES);
    expect(r.stdout.trim().split("\n")).toEqual([
      `CapEff: ${mask}`,
      `CapBnd: ${mask}`,
      "NoNewPrivs: 1",
      "1024",
      "0",
      "sys-ro",
      expect.stringMatching(/\S/),
    ]);
  });

  it("adds capabilities and raises rlimits as asked", async () => {
    const { namespace, id } = names();
    const spec = await build(
      namespace,
      id,
      withAddedCapabilities(["NET_ADMIN"]),
      withRlimit({ type: "RLIMIT_NOFILE", soft: 4096, hard: 8192 }),
      withArgs("sh", "-c", "grep '^CapBnd:' /proc/self/status | tr -s '\\t' ' '; ulimit -n; ulimit -Hn"),
    );
    const r = runToCompletion(namespace, id, spec);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      `CapBnd: ${capMask([...DEFAULT_CAPABILITIES, "CAP_NET_ADMIN"])}`,
      "4096",
      "8192",
    ]);
  });

  it("joins a pre-made network namespace and sees its interfaces", async () => {
    const { namespace, id } = names();
    const netns = uniqueName("ns");
    execFileSync("ip", ["netns", "add", netns]);
    cleanups.push(() => execFileSync("ip", ["netns", "delete", netns]));
    execFileSync("ip", ["-n", netns, "link", "add", "berthv0", "type", "veth", "peer", "name", "berthv1"]);
    const spec = await build(
      namespace,
      id,
      withNetworkNamespacePath(`/var/run/netns/${netns}`),
      withArgs("sh", "-c", "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | sort"),
    );
    const r = runToCompletion(namespace, id, spec);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["berthv0", "berthv1", "lo"]);
  });

  it("loads a typed seccomp profile: the denied syscall fails with the given errno", async () => {
    const { namespace, id } = names();
    const spec = await build(
      namespace,
      id,
      withSeccomp({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
      }),
      withArgs("sh", "-c", "mkdir /tmp/x 2>&1; echo done"),
    );
    const r = runToCompletion(namespace, id, spec);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Operation not permitted/);
    expect(r.stdout.trim().endsWith("done")).toBe(true);
  });

  it("runs privileged with this process's capabilities and nothing masked", async () => {
    const { namespace, id } = names();
    const current = (await currentCapabilities())._unsafeUnwrap();
    const spec = await build(
      namespace,
      id,
      withPrivileged(),
      withArgs("sh", "-c", "grep '^CapBnd:' /proc/self/status | tr -s '\\t' ' '; wc -c < /proc/timer_list"),
    );
    const r = runToCompletion(namespace, id, spec);
    expect(r.status).toBe(0);
    const [bnd, timerList] = r.stdout.trim().split("\n");
    expect(bnd).toBe(`CapBnd: ${capMask(current)}`);
    expect(Number(timerList)).toBeGreaterThan(0);
  });

  it("is accepted over gRPC as specAny + typed runc options, and the shim uses those options", async () => {
    const { namespace, id } = names();
    // A runc wrapper as binaryName: if the shim runs it, it read our encoded containerd.runc.v1.Options.
    const log = join(work, `${id}-runc.log`);
    const wrapper = join(work, `${id}-runc.sh`);
    writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> ${log}\nexec runc "$@"\n`);
    chmodSync(wrapper, 0o755);
    const spec = await build(
      namespace,
      id,
      withHostname("over-grpc"),
      withArgs("sh", "-c", "hostname; id -u"),
      withUser("nobody"),
    );
    const runtime = encodeRuntime({ name: RUNC_V2_RUNTIME, options: { binaryName: wrapper } })._unsafeUnwrap();
    const client = new ContainersClient(`unix://${daemon.address}`, credentials.createInsecure());
    try {
      const metadata = new Metadata();
      metadata.set("containerd-namespace", namespace);
      const request = CreateContainerRequest.fromPartial({
        container: { id, spec: specAny(spec), runtime: { name: runtime.name, options: runtime.options } },
      });
      await new Promise<void>((resolve, reject) =>
        client.create(request, metadata, (e) => (e ? reject(e) : resolve())),
      );
    } finally {
      client.close();
    }
    // ctr reads back exactly the spec we sent (it decodes the Any itself).
    const info = JSON.parse(ctr(namespace, "containers", "info", id).stdout) as {
      Runtime: { Name: string };
      Spec: unknown;
    };
    expect(info.Runtime.Name).toBe(RUNC_V2_RUNTIME);
    expect(info.Spec).toEqual(spec);
    const started = ctr(namespace, "task", "start", id);
    expect(started.stderr).toBe("");
    expect(started.stdout.trim().split("\n")).toEqual(["over-grpc", "65534"]);
    expect(readFileSync(log, "utf8")).toMatch(/\bcreate\b/);
  });

  it("puts the container in /<namespace>/<id> with the memory, pids and CPU limits", async () => {
    const { namespace, id } = names();
    const spec = await build(
      namespace,
      id,
      withMemoryLimit(64 * 1024 * 1024),
      withPidsLimit(32),
      withCpuShares(256),
      withCpus(0.5),
      withArgs("sleep", "60"),
    );
    const started = ctr(namespace, "run", "--detach", "--config", writeSpec(spec), id);
    expect(started.stderr).toBe("");
    expect(started.status).toBe(0);
    const pidLine = ctr(namespace, "task", "ls")
      .stdout.split("\n")
      .find((l) => l.startsWith(id));
    const pid = pidLine?.trim().split(/\s+/)[1];
    expect(pid).toMatch(/^\d+$/);
    const cgroups = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    const unified = /^0::(.*)$/m.exec(cgroups)?.[1];
    const v1 = (controller: string) => new RegExp(`^\\d+:[^:]*\\b${controller}\\b[^:]*:(.*)$`, "m").exec(cgroups)?.[1];
    const read = (path: string) => readFileSync(path, "utf8").trim();
    if (v1("memory") !== undefined) {
      expect(v1("memory")).toBe(`/${namespace}/${id}`);
      expect(read(`/sys/fs/cgroup/memory${v1("memory")}/memory.limit_in_bytes`)).toBe(String(64 * 1024 * 1024));
      expect(read(`/sys/fs/cgroup/pids${v1("pids")}/pids.max`)).toBe("32");
      expect(read(`/sys/fs/cgroup/cpu${v1("cpu")}/cpu.shares`)).toBe("256");
      expect(read(`/sys/fs/cgroup/cpu${v1("cpu")}/cpu.cfs_quota_us`)).toBe("50000");
    } else {
      expect(unified).toBe(`/${namespace}/${id}`);
      expect(read(`/sys/fs/cgroup${unified}/memory.max`)).toBe(String(64 * 1024 * 1024));
      expect(read(`/sys/fs/cgroup${unified}/pids.max`)).toBe("32");
      expect(read(`/sys/fs/cgroup${unified}/cpu.max`)).toBe("50000 100000");
    }
  });
});
