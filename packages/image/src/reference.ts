import { err, ok, type Result } from "neverthrow";
import { ImageError } from "./errors.js";

/** The registry name Docker Hub images normalize to (`busybox` -> `docker.io/library/busybox:latest`). */
export const DOCKER_HUB_REGISTRY = "docker.io";

/** The host that actually serves Docker Hub's distribution API (what {@link ImageReference.apiHost} returns for it). */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";

/** The tag a reference gets when it names neither a tag nor a digest. */
export const DEFAULT_TAG = "latest";

/** The longest repository path (after docker.io normalization) the distribution grammar allows. */
export const MAX_REPOSITORY_LENGTH = 255;

/** Digest algorithms berth accepts: the ones the OCI image spec registers with hex encodings. */
export type DigestAlgorithm = "sha256" | "sha512";

/** A digest split into its parts, e.g. `sha256:e3b0…` -> `{ algorithm: "sha256", hex: "e3b0…" }`. */
export interface DigestParts {
  readonly algorithm: DigestAlgorithm;
  /** Lowercase hex: 64 characters for sha256, 128 for sha512. */
  readonly hex: string;
}

/**
 * A parsed, normalized image reference. Immutable (frozen); create one with {@link parseReference}.
 *
 * Docker Hub names are expanded: `busybox` has registry `docker.io`, repository `library/busybox` and tag
 * `latest`. A reference that names a digest but no tag keeps `tag` undefined.
 */
export interface ImageReference {
  /** Registry host with optional port, e.g. `docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `library/busybox` or `owner/app`. */
  readonly repository: string;
  /** The tag, when one was given, or `latest` when neither tag nor digest was given. */
  readonly tag?: string;
  /** The digest, e.g. `sha256:…`, when one was given. */
  readonly digest?: string;
  /** The canonical, fully expanded form, e.g. `docker.io/library/busybox:latest`. */
  toString(): string;
  /** The short form Docker prints, e.g. `busybox:latest` or `owner/app@sha256:…`; parses back to an equal value. */
  familiar(): string;
  /** The host to send distribution API requests to: `registry-1.docker.io` for Docker Hub, else the registry. */
  apiHost(): string;
  /** What to put after `/v2/<repository>/manifests/`: the digest when present (it pins content), else the tag. */
  manifestRef(): string;
}

class Reference implements ImageReference {
  readonly registry: string;
  readonly repository: string;
  declare readonly tag?: string;
  declare readonly digest?: string;

  constructor(registry: string, repository: string, tag: string | undefined, digest: string | undefined) {
    this.registry = registry;
    this.repository = repository;
    if (tag !== undefined) this.tag = tag;
    if (digest !== undefined) this.digest = digest;
    Object.freeze(this);
  }

  toString(): string {
    return this.#withSuffix(`${this.registry}/${this.repository}`);
  }

  familiar(): string {
    if (this.registry !== DOCKER_HUB_REGISTRY) return this.toString();
    const official = this.repository.startsWith("library/") ? this.repository.slice("library/".length) : undefined;
    return this.#withSuffix(official !== undefined && !official.includes("/") ? official : this.repository);
  }

  apiHost(): string {
    return this.registry === DOCKER_HUB_REGISTRY ? DOCKER_HUB_API_HOST : this.registry;
  }

  manifestRef(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  #withSuffix(name: string): string {
    return `${name}${this.tag === undefined ? "" : `:${this.tag}`}${this.digest === undefined ? "" : `@${this.digest}`}`;
  }
}

// The distribution reference grammar (github.com/distribution/reference), one piece per constant.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_LITERAL = "\\[[a-fA-F0-9:]+\\]";
const REGISTRY = new RegExp(`^(?:${DOMAIN_NAME}|${IPV6_LITERAL})(?::([0-9]+))?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const MAX_TAG_LENGTH = 128;
const DIGEST_ALGORITHM = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*$/;
const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };
// A bare 64-hex string is an image ID, not a repository name (distribution rejects it too).
const IDENTIFIER = /^[a-f0-9]{64}$/;
const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

const REFERENCE_EXAMPLES = `e.g. "busybox:1.36", "ghcr.io/owner/app:v1" or "localhost:5000/app@sha256:<64 hex digits>"`;
const DIGEST_EXAMPLE = `e.g. "sha256:<64 lowercase hex digits>"`;

/** Why a digest string is malformed, or its parts. Shared by {@link parseDigest} and {@link parseReference}. */
function digestProblem(digest: string): DigestParts | string {
  const colon = digest.indexOf(":");
  if (colon < 0) return `digest ${JSON.stringify(digest)} must have the form <algorithm>:<hex> (${DIGEST_EXAMPLE})`;
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  if (!DIGEST_ALGORITHM.test(algorithm)) {
    return `digest algorithm ${JSON.stringify(algorithm)} is malformed (${DIGEST_EXAMPLE})`;
  }
  if (algorithm !== "sha256" && algorithm !== "sha512") {
    return `digest algorithm ${JSON.stringify(algorithm)} is not supported: use sha256 or sha512 (${DIGEST_EXAMPLE})`;
  }
  const want = HEX_LENGTH[algorithm];
  if (!/^[0-9a-fA-F]*$/.test(hex)) {
    return `${algorithm} digest hex ${JSON.stringify(hex)} has characters other than 0-9 and a-f (${DIGEST_EXAMPLE})`;
  }
  if (hex.length !== want) {
    return `${algorithm} digest hex has ${hex.length} characters but must have exactly ${want} (${DIGEST_EXAMPLE})`;
  }
  if (hex !== hex.toLowerCase()) {
    return `${algorithm} digest hex must be lowercase: write ${JSON.stringify(`${algorithm}:${hex.toLowerCase()}`)}`;
  }
  return { algorithm, hex };
}

/**
 * Parses a content digest such as `sha256:<64 hex>` or `sha512:<128 hex>`. Only the algorithms the OCI image
 * spec registers with hex encodings are accepted, and the hex must be lowercase and of the exact length.
 */
export function parseDigest(digest: string): Result<DigestParts, ImageError> {
  const parts = digestProblem(digest);
  if (typeof parts === "string") return err(new ImageError("InvalidReference", `invalid digest: ${parts}`));
  return ok(parts);
}

/** True when `value` is a well-formed sha256 or sha512 digest (see {@link parseDigest}). */
export function isDigest(value: string): boolean {
  return typeof digestProblem(value) !== "string";
}

/** Why a registry host[:port] is invalid, or undefined when it is fine. */
function registryProblem(registry: string): string | undefined {
  const match = REGISTRY.exec(registry);
  if (!match) {
    return (
      `registry ${JSON.stringify(registry)} is not a valid host[:port]: use a DNS name, an IPv4 address or a ` +
      `bracketed IPv6 address, optionally followed by :port (e.g. "registry.example.com:5000" or "[::1]:5000")`
    );
  }
  const port = match[1];
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) {
    return `registry ${JSON.stringify(registry)} has port ${port}, which is outside 1-65535 (e.g. "localhost:5000")`;
  }
  return undefined;
}

/** Why a repository path's components are invalid, or undefined when they are fine. */
function repositoryProblem(repository: string, registryGiven: boolean): string | undefined {
  const components = repository.split("/");
  for (const [index, component] of components.entries()) {
    if (component === "") {
      return (
        `repository ${JSON.stringify(repository)} has an empty path component: separate components with ` +
        `single slashes and do not start or end with one (e.g. "library/busybox")`
      );
    }
    if (PATH_COMPONENT.test(component)) continue;
    if (PATH_COMPONENT.test(component.toLowerCase())) {
      return (
        `repository ${JSON.stringify(repository)} must be lowercase, but component ${JSON.stringify(component)} ` +
        `has uppercase letters: write ${JSON.stringify(repository.toLowerCase())}` +
        (index === 0 && !registryGiven && components.length > 1
          ? ` (if ${JSON.stringify(component)} is a registry host, write it with a '.' or a port, ` +
            `e.g. "${component.toLowerCase()}.example.com/${components.slice(1).join("/")}" or "${component}:5000/…")`
          : "")
      );
    }
    return (
      `repository path component ${JSON.stringify(component)} is invalid: use lowercase letters and digits, ` +
      `joined by single '.' or '_', double '__', or any number of '-' (e.g. "my-app" or "team/my_app.v2")`
    );
  }
  return undefined;
}

/** Why a (normalized) repository path is too long, or undefined when it is fine. */
function lengthProblem(repository: string): string | undefined {
  if (repository.length <= MAX_REPOSITORY_LENGTH) return undefined;
  return (
    `repository ${JSON.stringify(`${repository.slice(0, 24)}…`)} is ${repository.length} characters long; ` +
    `at most ${MAX_REPOSITORY_LENGTH} are allowed (shorten it, e.g. "team/app")`
  );
}

/** Why a tag is invalid, or undefined when it is fine. */
function tagProblem(tag: string): string | undefined {
  if (TAG.test(tag)) return undefined;
  if (tag === "") return `the tag after ':' is empty: remove the ':' or name a tag (e.g. "busybox:1.36")`;
  if (tag.length > MAX_TAG_LENGTH) {
    return (
      `tag ${JSON.stringify(`${tag.slice(0, 24)}…`)} is ${tag.length} characters long; at most ${MAX_TAG_LENGTH} ` +
      `are allowed (e.g. "1.36.1")`
    );
  }
  return (
    `tag ${JSON.stringify(tag)} is invalid: use letters, digits, '_', '.' and '-', starting with a letter, ` +
    `digit or '_' (e.g. "1.36.1" or "v2_rc-1")`
  );
}

/**
 * Splits `name` into registry and repository, applying docker.io normalization. `path` is the repository as
 * written (before the `library/` prefix is added), for messages.
 */
function splitRegistry(name: string): { registry: string; path: string; repository: string } {
  const slash = name.indexOf("/");
  let registry = DOCKER_HUB_REGISTRY;
  let path = name;
  if (slash >= 0) {
    const first = name.slice(0, slash);
    // distribution's rule: the first component is a registry only if it looks like a host.
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      registry = first === "index.docker.io" ? DOCKER_HUB_REGISTRY : first;
      path = name.slice(slash + 1);
    }
  }
  const official = registry === DOCKER_HUB_REGISTRY && path !== "" && !path.includes("/");
  return { registry, path, repository: official ? `library/${path}` : path };
}

/**
 * Parses an image reference the way Docker and containerd do (the grammar of
 * github.com/distribution/reference plus Docker Hub normalization):
 *
 * `[registry[:port]/]path[:tag][@algorithm:hex]`
 *
 * - The first path component is a registry only if it contains `.` or `:` or is `localhost`
 *   (`localhost:5000/app`, `[::1]:5000/app`, `ghcr.io/owner/app`); otherwise the registry is `docker.io`.
 * - On `docker.io` (and its legacy name `index.docker.io`), one-component names get the `library/` prefix.
 * - Without tag and digest the tag is `latest`; with both, both are kept (the digest wins when resolving).
 * - The repository must be lowercase and at most 255 characters; tags are `[\w][\w.-]{0,127}`;
 *   digests must be sha256 (64 lowercase hex) or sha512 (128).
 *
 * Errors (code `InvalidReference`) name the offending part and show a valid example.
 */
export function parseReference(input: string): Result<ImageReference, ImageError> {
  const invalid = (why: string) =>
    err(
      new ImageError("InvalidReference", `invalid image reference ${JSON.stringify(input)}: ${why}`, {
        reference: input,
      }),
    );

  if (input === "") return invalid(`the reference is empty (${REFERENCE_EXAMPLES})`);
  if (IDENTIFIER.test(input)) {
    return invalid(
      `a bare 64-character hex string is an image ID, not a repository name; to pin content, name the repository ` +
        `and a digest (e.g. "busybox@sha256:${input}")`,
    );
  }
  const scheme = URL_SCHEME.exec(input);
  if (scheme) {
    return invalid(
      `references have no URL scheme: drop ${JSON.stringify(scheme[0])} (e.g. ${JSON.stringify(input.slice(scheme[0].length))})`,
    );
  }

  let nameAndTag = input;
  let digest: string | undefined;
  const at = input.indexOf("@");
  if (at >= 0) {
    nameAndTag = input.slice(0, at);
    digest = input.slice(at + 1);
  }
  let name = nameAndTag;
  let tag: string | undefined;
  const colon = nameAndTag.lastIndexOf(":");
  if (colon > nameAndTag.lastIndexOf("/")) {
    name = nameAndTag.slice(0, colon);
    tag = nameAndTag.slice(colon + 1);
  }

  if (name === "" || (!nameAndTag.includes("/") && nameAndTag.startsWith("["))) {
    const what = name === "" ? "there is no repository name" : `${JSON.stringify(nameAndTag)} is only a registry`;
    return invalid(`${what}; name a repository (${REFERENCE_EXAMPLES})`);
  }
  const { registry, path, repository } = splitRegistry(name);
  const registryGiven = path !== name;
  if (path === "") {
    return invalid(`registry ${JSON.stringify(registry)} is not followed by a repository (e.g. "${registry}/app:v1")`);
  }
  const problem =
    registryProblem(registry) ??
    repositoryProblem(path, registryGiven) ??
    lengthProblem(repository) ??
    (tag === undefined ? undefined : tagProblem(tag)) ??
    (digest === undefined ? undefined : digestText(digest));
  if (problem !== undefined) return invalid(problem);

  return ok(new Reference(registry, repository, tag ?? (digest === undefined ? DEFAULT_TAG : undefined), digest));
}

function digestText(digest: string): string | undefined {
  if (digest === "") return `the digest after '@' is empty: remove the '@' or name a digest (${DIGEST_EXAMPLE})`;
  const parts = digestProblem(digest);
  return typeof parts === "string" ? parts : undefined;
}
