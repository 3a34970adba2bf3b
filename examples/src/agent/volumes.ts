import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { type SpecOpt, withBindMount } from "@berth/containerd";
import { AgentError } from "./errors.js";
import { type AgentResult, err, ok } from "./result.js";
import { containerMountPoints, type TaskDefinition } from "./task-definition.js";

/** Where a task's volumes are on the host: volume name to host directory. */
export type VolumePaths = ReadonlyMap<string, string>;

/** A container's bind mount of a task volume, resolved to its host directory. */
export interface ResolvedMount {
  readonly volume: string;
  /** The host directory. */
  readonly source: string;
  /** The path inside the container. */
  readonly destination: string;
  readonly readOnly: boolean;
}

/**
 * Makes a task's volumes ready: a task-scoped volume becomes the directory `taskDir/volumes/NAME` (removed with the
 * task directory on stop); a `host.sourcePath` volume must be an existing directory, or the task is refused with
 * `InvalidTaskDefinition` naming the field.
 */
export async function prepareVolumes(def: TaskDefinition, taskDir: string): Promise<AgentResult<VolumePaths>> {
  const paths = new Map<string, string>();
  for (const [i, v] of def.volumes.entries()) {
    if (v.sourcePath === undefined) {
      const dir = join(taskDir, "volumes", v.name);
      try {
        await mkdir(dir, { recursive: true, mode: 0o755 });
      } catch (e) {
        return err(
          new AgentError("ContainerFailed", `creating volume ${v.name} at ${dir}: ${(e as Error).message}`, {
            cause: e,
          }),
        );
      }
      paths.set(v.name, dir);
      continue;
    }
    const field = `volumes[${i}].host.sourcePath`;
    const isDir = await stat(v.sourcePath).then(
      (s) => s.isDirectory(),
      () => undefined,
    );
    if (isDir !== true) {
      return err(
        new AgentError(
          "InvalidTaskDefinition",
          `${field} ${v.sourcePath} ${isDir === false ? "is not a directory" : "does not exist"} on this host: ` +
            "create it first or drop host.sourcePath for a task-scoped volume",
          { field },
        ),
      );
    }
    paths.set(v.name, v.sourcePath);
  }
  return ok(paths);
}

/** The bind mounts container `name` gets: its `mountPoints` and those of its `volumesFrom` containers. */
export function containerMounts(def: TaskDefinition, name: string, paths: VolumePaths): ResolvedMount[] {
  return containerMountPoints(def, name).flatMap((m) => {
    const source = paths.get(m.sourceVolume);
    return source === undefined
      ? []
      : [{ volume: m.sourceVolume, source, destination: m.containerPath, readOnly: m.readOnly }];
  });
}

/** Spec options bind-mounting `mounts` (`rbind`, `ro` or `rw`, `rprivate`). */
export function mountSpecOpts(mounts: readonly ResolvedMount[]): SpecOpt[] {
  return mounts.map((m) =>
    withBindMount({ source: m.source, destination: m.destination, readonly: m.readOnly, propagation: "rprivate" }),
  );
}
