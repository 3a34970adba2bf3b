import { err, ok, type ResultAsync } from "neverthrow";
import { ContainerdError } from "./errors.js";
import { ImagesClient, type Image as WireImage } from "./gen/containerd/services/images/v1/images.js";
import type { CallOptions } from "./transport.js";
import {
  type Descriptor,
  descriptorFromWire,
  descriptorToWire,
  type Labels,
  quoted,
  type ServiceContext,
  toDate,
} from "./types.js";

/** An image record: a name pointing at a manifest or index. */
export interface Image {
  readonly name: string;
  readonly labels: Labels;
  readonly target: Descriptor;
  readonly createdAt: Date | undefined;
  readonly updatedAt: Date | undefined;
}

/** What {@link Images.create} and {@link Images.update} take. */
export interface NewImage {
  readonly name: string;
  readonly target: Descriptor;
  readonly labels?: Labels;
}

function fromWire(i: WireImage): Image {
  return {
    name: i.name,
    labels: { ...i.labels },
    target: descriptorFromWire(i.target),
    createdAt: toDate(i.createdAt),
    updatedAt: toDate(i.updatedAt),
  };
}

function toWire(i: NewImage): WireImage {
  return {
    name: i.name,
    labels: { ...(i.labels ?? {}) },
    target: descriptorToWire(i.target),
    createdAt: undefined,
    updatedAt: undefined,
  };
}

/** containerd's Images service (image records; their blobs live in the content store). */
export class Images {
  readonly #s: ServiceContext;
  readonly #c: ImagesClient;

  /** @internal */
  constructor(s: ServiceContext) {
    this.#s = s;
    this.#c = s.transport.client(ImagesClient);
  }

  /** One image (`NotFound` if missing). */
  get(name: string, options: CallOptions = {}): ResultAsync<Image, ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.get, "Images.Get", { name }, this.#s.context(options), quoted("image", name))
      .andThen((r) =>
        r.image
          ? ok(fromWire(r.image))
          : err(new ContainerdError("NotFound", `image ${JSON.stringify(name)}: empty answer`)),
      );
  }

  /** Images matching any of the filters (e.g. `name==docker.io/library/busybox:latest`); all when none. */
  list(filters: readonly string[] = [], options: CallOptions = {}): ResultAsync<readonly Image[], ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.list, "Images.List", { filters: [...filters] }, this.#s.context(options))
      .map((r) => r.images.map(fromWire));
  }

  /** Creates an image record (`AlreadyExists` if the name is taken). */
  create(image: NewImage, options: CallOptions = {}): ResultAsync<Image, ContainerdError> {
    const wire = toWire(image);
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.create,
        "Images.Create",
        { image: wire, sourceDateEpoch: undefined },
        this.#s.context(options),
        quoted("image", image.name),
      )
      .map((r) => fromWire(r.image ?? wire));
  }

  /**
   * Updates an image. With `fields` (e.g. `["target"]`, `["labels.x"]`) only those change;
   * without, target and labels are replaced.
   */
  update(image: NewImage, fields?: readonly string[], options: CallOptions = {}): ResultAsync<Image, ContainerdError> {
    const wire = toWire(image);
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.update,
        "Images.Update",
        { image: wire, updateMask: fields ? [...fields] : undefined, sourceDateEpoch: undefined },
        this.#s.context(options),
        quoted("image", image.name),
      )
      .map((r) => fromWire(r.image ?? wire));
  }

  /** Deletes an image record; `sync` waits for garbage collection to finish. */
  delete(name: string, sync = false, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.delete, "Images.Delete", { name, sync }, this.#s.context(options), quoted("image", name))
      .map(() => undefined);
  }
}
