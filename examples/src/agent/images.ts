import { type Containerd, importImage } from "@berth/containerd";
import { createContainerdTarget, createRegistryClient, type PullProgress, parseReference, pull } from "@berth/image";
import { AgentError } from "./errors.js";
import { type AgentResult, err, ok } from "./result.js";

/**
 * Gets one image into containerd (unpacked into `snapshotter`) so a container can run it. The agent calls it once
 * per distinct image of a task, all in parallel. Sources that download report `@berth/image`'s pull progress (per
 * layer bytes, phases, unpack) through `onProgress`.
 */
export type ImageSource = (
  client: Containerd,
  image: string,
  options: {
    readonly snapshotter: string;
    readonly signal?: AbortSignal;
    readonly onProgress?: (progress: PullProgress) => void;
  },
) => Promise<AgentResult<void>>;

async function present(client: Containerd, image: string): Promise<boolean> {
  return (await client.images.get(image)).isOk();
}

/**
 * Images from an OCI image layout (a directory or tar, e.g. the output of `pnpm berth pull --layout`): when an
 * image is not in containerd yet, the whole layout is imported (`importImage`) and the image must then be there.
 */
export function ociLayoutImages(layout: string): ImageSource {
  return async (client, image, { snapshotter }) => {
    if (await present(client, image)) return ok(undefined);
    const imported = await importImage(client, layout, { snapshotter, unpack: true });
    if (imported.isErr()) {
      return err(
        new AgentError("ImageFailed", `importing ${layout} for ${image}: ${imported.error.message}`, {
          cause: imported.error,
        }),
      );
    }
    if (!imported.value.some((i) => i.name === image)) {
      const names = imported.value.map((i) => i.name).join(", ") || "none";
      return err(new AgentError("ImageFailed", `the OCI layout ${layout} does not hold ${image} (it holds: ${names})`));
    }
    return ok(undefined);
  };
}

/** Options of {@link registryImages}. */
export interface RegistryImagesOptions {
  /** Registries (`host:port`) spoken to over plain HTTP, e.g. a local `127.0.0.1:5000`. */
  readonly plainHttp?: readonly string[];
}

/** Images pulled from their registries with `@berth/image` straight into containerd, unless already present. */
export function registryImages(options: RegistryImagesOptions = {}): ImageSource {
  return async (client, image, { snapshotter, signal, onProgress }) => {
    if (await present(client, image)) return ok(undefined);
    const ref = parseReference(image);
    if (ref.isErr()) {
      return err(new AgentError("ImageFailed", `image ${JSON.stringify(image)}: ${ref.error.message}`));
    }
    const plain = options.plainHttp ?? [];
    await using registry = createRegistryClient({
      ...(plain.length > 0 ? { registries: Object.fromEntries(plain.map((r) => [r, { plainHttp: true }])) } : {}),
    });
    const target = createContainerdTarget(client, { snapshotter });
    const pulled = await pull(ref.value, {
      client: registry,
      target,
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    if (pulled.isErr()) {
      await target.release();
      return err(new AgentError("ImageFailed", `pulling ${image}: ${pulled.error.message}`, { cause: pulled.error }));
    }
    return ok(undefined);
  };
}
