import { err, ok, type ResultAsync } from "neverthrow";
import { ContainerdError } from "./errors.js";
import { NamespacesClient } from "./gen/containerd/services/namespaces/v1/namespace.js";
import type { CallOptions } from "./transport.js";
import { type Labels, quoted, type ServiceContext } from "./types.js";

/** A containerd namespace. */
export interface Namespace {
  readonly name: string;
  readonly labels: Labels;
}

/** containerd's Namespaces service: create, list, label and delete namespaces. */
export class Namespaces {
  readonly #s: ServiceContext;
  readonly #c: NamespacesClient;

  /** @internal */
  constructor(s: ServiceContext) {
    this.#s = s;
    this.#c = s.transport.client(NamespacesClient);
  }

  /** Creates a namespace (`AlreadyExists` if it exists). */
  create(name: string, labels: Labels = {}, options: CallOptions = {}): ResultAsync<Namespace, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.create,
        "Namespaces.Create",
        { namespace: { name, labels: { ...labels } } },
        this.#s.context(options),
        quoted("namespace", name),
      )
      .map((r) => ({ name: r.namespace?.name ?? name, labels: { ...(r.namespace?.labels ?? {}) } }));
  }

  /**
   * One namespace (`NotFound` if missing). containerd's own Get answers even for a namespace that
   * does not exist (with no labels), so this looks it up in the list instead.
   */
  get(name: string, options: CallOptions = {}): ResultAsync<Namespace, ContainerdError> {
    return this.list(options).andThen((all) => {
      const found = all.find((n) => n.name === name);
      return found
        ? ok(found)
        : err(
            new ContainerdError("NotFound", `namespace ${JSON.stringify(name)} does not exist: create it first`, {
              resource: quoted("namespace", name),
            }),
          );
    });
  }

  /** Every namespace. */
  list(options: CallOptions = {}): ResultAsync<readonly Namespace[], ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.list, "Namespaces.List", { filter: "" }, this.#s.context(options))
      .map((r) => r.namespaces.map((n) => ({ name: n.name, labels: { ...n.labels } })));
  }

  /**
   * Sets labels on a namespace. Keys with an empty value are removed; other labels are kept.
   */
  setLabels(name: string, labels: Labels, options: CallOptions = {}): ResultAsync<Namespace, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.update,
        "Namespaces.Update",
        { namespace: { name, labels: { ...labels } }, updateMask: Object.keys(labels).map((k) => `labels.${k}`) },
        this.#s.context(options),
        quoted("namespace", name),
      )
      .andThen(() => this.get(name, options));
  }

  /** Deletes an empty namespace (`FailedPrecondition` while it still holds resources). */
  delete(name: string, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.delete,
        "Namespaces.Delete",
        { name },
        this.#s.context(options),
        quoted("namespace", name),
      )
      .map(() => undefined);
  }
}
