import { createHash } from "node:crypto";
import { err, ok, type Result } from "neverthrow";
import { ImageError } from "./errors.js";
import { normalizePlatform, type Platform, platformMatches } from "./platform.js";
import { isDigest } from "./reference.js";

/** OCI image index media type. */
export const MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json";
/** OCI image manifest media type. */
export const MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** Docker schema2 manifest list media type. */
export const MEDIA_TYPE_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Docker schema2 manifest media type. */
export const MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

/** The four manifest media types the puller asks for, in the order of the `Accept` header. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_DOCKER_MANIFEST,
];

/** Largest manifest or index the puller accepts (4 MiB, as containerd). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** Layer media types the puller knows, by compression. */
const LAYER_TYPES: Readonly<Record<string, LayerCompression>> = {
  "application/vnd.oci.image.layer.v1.tar": "none",
  "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
  "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
  "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
  "application/vnd.docker.image.rootfs.diff.tar": "none",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar": "none",
};

/** How a layer blob is compressed. */
export type LayerCompression = "none" | "gzip" | "zstd";

/** An OCI content descriptor: what a manifest says about a blob it references. */
export interface Descriptor {
  readonly mediaType: string;
  /** `sha256:` + 64 hex digits (or sha512). */
  readonly digest: string;
  /** Exact size in bytes. */
  readonly size: number;
  /** Alternative download locations (foreign / non-distributable layers). */
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  /** Set on index entries. */
  readonly platform?: Platform;
  readonly artifactType?: string;
}

/** A parsed image manifest (OCI or Docker schema2). */
export interface ImageManifest {
  readonly kind: "manifest";
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

/** A parsed image index (OCI) or manifest list (Docker schema2). */
export interface ImageIndex {
  readonly kind: "index";
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
}

/** The sha256 digest of some bytes, as `sha256:<hex>`. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** True when the media type names a layer the puller can store (gzip, zstd, uncompressed, foreign). */
export function isKnownLayerType(mediaType: string): boolean {
  return mediaType in LAYER_TYPES;
}

/** The compression of a layer media type, or undefined when the type is not a known layer type. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return LAYER_TYPES[mediaType];
}

/** True for foreign (Docker) and non-distributable (OCI) layers, which registries may not serve. */
export function isForeignLayer(descriptor: Descriptor): boolean {
  return descriptor.mediaType.includes(".foreign.") || descriptor.mediaType.includes(".nondistributable.");
}

function readDescriptor(value: unknown, where: string): Result<Descriptor, ImageError> {
  if (typeof value !== "object" || value === null) {
    return err(new ImageError("InvalidManifest", `${where} is not a JSON object; the manifest is malformed`));
  }
  const v = value as Record<string, unknown>;
  if (typeof v.mediaType !== "string" || v.mediaType === "") {
    return err(new ImageError("InvalidManifest", `${where} has no mediaType; the manifest is malformed`));
  }
  if (typeof v.digest !== "string" || !isDigest(v.digest)) {
    return err(
      new ImageError(
        "InvalidManifest",
        `${where} has an invalid digest ${JSON.stringify(v.digest)}; expected sha256:<64 hex>`,
      ),
    );
  }
  if (typeof v.size !== "number" || !Number.isSafeInteger(v.size) || v.size < 0) {
    return err(new ImageError("InvalidManifest", `${where} has an invalid size ${JSON.stringify(v.size)}`));
  }
  const d: {
    mediaType: string;
    digest: string;
    size: number;
    urls?: readonly string[];
    annotations?: Readonly<Record<string, string>>;
    platform?: Platform;
    artifactType?: string;
  } = { mediaType: v.mediaType, digest: v.digest, size: v.size };
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === "string");
  if (typeof v.annotations === "object" && v.annotations !== null) {
    d.annotations = v.annotations as Record<string, string>;
  }
  if (typeof v.artifactType === "string") d.artifactType = v.artifactType;
  if (typeof v.platform === "object" && v.platform !== null) {
    const p = v.platform as Record<string, unknown>;
    if (typeof p.os === "string" && typeof p.architecture === "string") {
      d.platform = {
        os: p.os,
        architecture: p.architecture,
        ...(typeof p.variant === "string" && p.variant !== "" ? { variant: p.variant } : {}),
        ...(typeof p["os.version"] === "string" ? { osVersion: p["os.version"] } : {}),
        ...(Array.isArray(p["os.features"]) ? { osFeatures: p["os.features"] as string[] } : {}),
      };
    }
  }
  return ok(d);
}

/**
 * Parses manifest or index bytes. `contentType` is the registry's `Content-Type` (or the descriptor's media type);
 * the document's own `mediaType` wins when present. Docker schema1 is rejected with `UnsupportedMediaType`.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): Result<ImageManifest | ImageIndex, ImageError> {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    return err(
      new ImageError(
        "InvalidManifest",
        `manifest is ${bytes.byteLength} bytes, above the ${MAX_MANIFEST_BYTES}-byte limit; refusing to parse it`,
      ),
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch (cause) {
    return err(new ImageError("InvalidManifest", "manifest is not valid JSON", { cause }));
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    return err(new ImageError("InvalidManifest", "manifest is not a JSON object"));
  }
  const m = doc as Record<string, unknown>;
  const declared = typeof m.mediaType === "string" ? m.mediaType : undefined;
  const headerType = contentType?.split(";")[0]?.trim();
  if (
    m.schemaVersion === 1 ||
    headerType?.startsWith("application/vnd.docker.distribution.manifest.v1") ||
    declared?.startsWith("application/vnd.docker.distribution.manifest.v1")
  ) {
    return err(
      new ImageError(
        "UnsupportedMediaType",
        "this image uses Docker manifest schema1, which is deprecated and not supported: " +
          "re-push it with a current client (e.g. `skopeo copy --format v2s2` or `docker push`) to get a schema2/OCI manifest",
      ),
    );
  }
  if (m.schemaVersion !== 2) {
    return err(
      new ImageError("InvalidManifest", `manifest has schemaVersion ${JSON.stringify(m.schemaVersion)}; expected 2`),
    );
  }
  const mediaType =
    declared ??
    (headerType && headerType !== "application/json" && headerType !== "application/octet-stream"
      ? headerType
      : undefined) ??
    (Array.isArray(m.manifests) ? MEDIA_TYPE_OCI_INDEX : MEDIA_TYPE_OCI_MANIFEST);
  if (mediaType === MEDIA_TYPE_OCI_INDEX || mediaType === MEDIA_TYPE_DOCKER_MANIFEST_LIST) {
    if (!Array.isArray(m.manifests)) {
      return err(new ImageError("InvalidManifest", `${mediaType} document has no "manifests" array`));
    }
    const manifests: Descriptor[] = [];
    for (const [i, entry] of m.manifests.entries()) {
      const d = readDescriptor(entry, `manifests[${i}]`);
      if (d.isErr()) return err(d.error);
      manifests.push(d.value);
    }
    return ok({ kind: "index", mediaType, manifests });
  }
  if (mediaType === MEDIA_TYPE_OCI_MANIFEST || mediaType === MEDIA_TYPE_DOCKER_MANIFEST) {
    const config = readDescriptor(m.config, "config");
    if (config.isErr()) return err(config.error);
    if (!Array.isArray(m.layers)) {
      return err(new ImageError("InvalidManifest", `${mediaType} document has no "layers" array`));
    }
    const layers: Descriptor[] = [];
    for (const [i, entry] of m.layers.entries()) {
      const d = readDescriptor(entry, `layers[${i}]`);
      if (d.isErr()) return err(d.error);
      layers.push(d.value);
    }
    return ok({ kind: "manifest", mediaType, config: config.value, layers });
  }
  return err(
    new ImageError(
      "UnsupportedMediaType",
      `manifest media type ${JSON.stringify(mediaType)} is not an image manifest or index; ` +
        "berth pulls OCI and Docker schema2 images",
    ),
  );
}

/**
 * Picks the manifest for `wanted` from an index: the first entry whose (normalized) platform matches, preferring an
 * exact variant match. Entries without a platform (attestations, artifacts) are never chosen.
 */
export function selectPlatform(index: ImageIndex, wanted: Platform): Result<Descriptor, ImageError> {
  const target = normalizePlatform(wanted);
  const candidates = index.manifests.filter(
    (d) =>
      d.platform !== undefined &&
      (d.mediaType === MEDIA_TYPE_OCI_MANIFEST || d.mediaType === MEDIA_TYPE_DOCKER_MANIFEST) &&
      platformMatches(target, d.platform),
  );
  const exact = candidates.find((d) => d.platform && normalizePlatform(d.platform).variant === target.variant);
  const chosen = exact ?? candidates[0];
  if (chosen) return ok(chosen);
  const offered = index.manifests
    .map((d) =>
      d.platform ? [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join("/") : "",
    )
    .filter((s) => s !== "");
  const want = [target.os, target.architecture, target.variant].filter(Boolean).join("/");
  return err(
    new ImageError(
      "NoMatchingPlatform",
      `the image index has no manifest for ${want}; it offers ${offered.length > 0 ? offered.join(", ") : "no platforms"}: ` +
        "pass one of those as the platform",
    ),
  );
}
