/**
 * berth's OCI image puller: naming images, talking to registries and pulling images into a {@link Target}, with
 * every failure as a tagged {@link ImageError} inside a neverthrow `Result` and every long operation cancellable.
 *
 * - {@link parseReference}: the distribution reference grammar (`[registry[:port]/]path[:tag][@digest]`) with
 *   Docker Hub normalization; {@link parseDigest} / {@link isDigest} for content digests.
 * - {@link parsePlatform}, {@link normalizePlatform}, {@link platformMatches}, {@link hostPlatform}: OCI platforms
 *   with containerd's normalization (`aarch64` -> `arm64`, `armhf` -> `arm/v7`, `x86_64` -> `amd64`).
 * - {@link createRegistryClient}: distribution v2 over undici (HEAD resolve with GET fallback, bearer/Basic auth
 *   with per-scope token caching, retries honoring `Retry-After`, redirects without leaking credentials,
 *   mirrors), with credentials from {@link staticCredentials}, {@link dockerConfigCredentials} or
 *   {@link functionCredentials}; plain-HTTP blob bodies are read straight off a socket of their own into a
 *   synchronous {@link BodySink} (see {@link RegistryClientOptions.socketBlobs}).
 * - {@link pull}: platform selection, concurrent blob downloads verified while streaming and resumed with `Range`,
 *   dedupe against the target, progress events, commit of the image record last.
 * - {@link createOciLayoutTarget}: an OCI image layout directory (skopeo/umoci), written atomically.
 * - {@link createContainerdTarget}: containerd through `@berth/containerd`: content under a lease with GC labels,
 *   layers unpacked into the snapshotter while the rest downloads (with per-layer `unpack` progress), the image
 *   record last; optionally the whole pull handed to containerd 2.x's Transfer service ({@link TransferDelegation}).
 *   On the daemon's host, blobs are placed straight into its content store and only committed through the content
 *   service ({@link LocalContentMode}; stale partials: {@link sweepPartials}).
 *
 * @packageDocumentation
 */
export { type AuthChallenge, type CachedToken, parseRetryAfter, parseWwwAuthenticate, TokenCache } from "./auth.js";
export {
  type ContainerdTarget,
  type ContainerdTargetOptions,
  createContainerdTarget,
  DEFAULT_SNAPSHOTTER,
  ingestRef,
  resumeOffset,
  type TransferDelegation,
} from "./containerd-target.js";
export {
  type CredentialsProvider,
  type DockerConfigOptions,
  dockerConfigCredentials,
  functionCredentials,
  type RegistryCredentials,
  staticCredentials,
} from "./credentials.js";
export { ImageError, type ImageErrorCode, type ImageErrorOptions } from "./errors.js";
export {
  type LocalContentMode,
  type LocalContentStatus,
  PARTIAL_DIRECTORY,
  PARTIAL_EXPIRY_MS,
  sweepPartials,
} from "./local-content.js";
export {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  isForeignLayer,
  isKnownLayerType,
  type LayerCompression,
  layerCompression,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  parseManifest,
  selectPlatform,
  sha256Digest,
} from "./manifest.js";
export {
  ANNOTATION_CONTAINERD_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  createOciLayoutTarget,
  type OciLayoutOptions,
} from "./oci-layout.js";
export {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  type Platform,
  parsePlatform,
  platformFromNode,
  platformMatches,
} from "./platform.js";
export {
  type BlobState,
  DEFAULT_PULL_CONCURRENCY,
  type ForeignLayerPolicy,
  type PlannedBlob,
  type PullOptions,
  type PullPhase,
  type PullProgress,
  type PullResult,
  pull,
} from "./pull.js";
export {
  DEFAULT_TAG,
  type DigestAlgorithm,
  type DigestParts,
  DOCKER_HUB_API_HOST,
  DOCKER_HUB_REGISTRY,
  type ImageReference,
  isDigest,
  MAX_REPOSITORY_LENGTH,
  parseDigest,
  parseReference,
} from "./reference.js";
export {
  type BlobResponse,
  createRegistryClient,
  type FetchedManifest,
  type OpenBlobOptions,
  type RegistryClient,
  type RegistryClientOptions,
  type RegistryEndpoint,
  type RegistryHostConfig,
  type ResolvedManifest,
  type RetryOptions,
} from "./registry-client.js";
export type { BodySink } from "./socket-http.js";
export type {
  BlobWriter,
  DelegatedPull,
  ImageRecord,
  PlannedImage,
  Target,
  UnpackEvent,
  WriterOptions,
} from "./target.js";
