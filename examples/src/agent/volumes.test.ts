import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applySpecOpts, type Spec } from "@berth/containerd";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AgentResult } from "./result.js";
import { taskDefinitionFromJson } from "./task-definition.js";
import { containerMounts, mountSpecOpts, prepareVolumes } from "./volumes.js";

function unwrap<T>(r: AgentResult<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

describe("task volumes", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "berth-agent-volumes-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const task = (volumes: unknown[]) =>
    unwrap(
      taskDefinitionFromJson({
        family: "vol",
        volumes,
        containerDefinitions: [
          {
            name: "a",
            image: "i",
            essential: false,
            mountPoints: volumes.map((_, i) => ({ sourceVolume: `v${i}`, containerPath: `/m${i}`, readOnly: i > 0 })),
          },
          { name: "b", image: "i", volumesFrom: [{ sourceContainer: "a" }] },
        ],
      }),
    );

  it("creates task-scoped volumes under the task directory and uses host volumes where they are", async () => {
    const host = join(dir, "host");
    const def = task([{ name: "v0" }, { name: "v1", host: { sourcePath: dir } }]);
    const paths = unwrap(await prepareVolumes(def, host));
    expect([...paths]).toEqual([
      ["v0", join(host, "volumes", "v0")],
      ["v1", dir],
    ]);
    expect(statSync(join(host, "volumes", "v0")).isDirectory()).toBe(true);
    expect(containerMounts(def, "b", paths)).toEqual([
      { volume: "v0", source: join(host, "volumes", "v0"), destination: "/m0", readOnly: false },
      { volume: "v1", source: dir, destination: "/m1", readOnly: true },
    ]);
  });

  it("refuses a host.sourcePath that is missing or not a directory, naming the field", async () => {
    const missing = await prepareVolumes(task([{ name: "v0", host: { sourcePath: join(dir, "nope") } }]), dir);
    expect(!missing.ok && missing.error.code).toBe("InvalidTaskDefinition");
    expect(!missing.ok && missing.error.field).toBe("volumes[0].host.sourcePath");
    expect(!missing.ok && missing.error.message).toBe(
      `volumes[0].host.sourcePath ${join(dir, "nope")} does not exist on this host: ` +
        "create it first or drop host.sourcePath for a task-scoped volume",
    );
    writeFileSync(join(dir, "file"), "");
    const file = await prepareVolumes(
      task([{ name: "v0" }, { name: "v1", host: { sourcePath: join(dir, "file") } }]),
      dir,
    );
    expect(!file.ok && file.error.field).toBe("volumes[1].host.sourcePath");
    expect(!file.ok && file.error.message).toMatch(/is not a directory on this host/);
  });

  it("turns mounts into rbind spec mounts, ro or rw", async () => {
    const spec = { ociVersion: "1.1.0", root: { path: "rootfs" }, mounts: [] } as unknown as Spec;
    const opts = mountSpecOpts([
      { volume: "a", source: "/srv/a", destination: "/a", readOnly: false },
      { volume: "b", source: "/srv/b", destination: "/b", readOnly: true },
    ]);
    const out = (await applySpecOpts(spec, { namespace: "ns", id: "c" }, ...opts))._unsafeUnwrap();
    expect(out.mounts).toEqual([
      { destination: "/a", type: "bind", source: "/srv/a", options: ["rbind", "rw", "rprivate"] },
      { destination: "/b", type: "bind", source: "/srv/b", options: ["rbind", "ro", "rprivate"] },
    ]);
  });
});
