/**
 * The foundation of berth's OCI image puller: naming images and choosing platforms, with every failure as a
 * tagged {@link ImageError} inside a neverthrow `Result`. No network is used by anything exported today.
 *
 * What exists:
 * - {@link parseReference}: the distribution reference grammar (`[registry[:port]/]path[:tag][@digest]`) with
 *   Docker Hub normalization (`busybox` -> `docker.io/library/busybox:latest`, API host `registry-1.docker.io`),
 *   giving an immutable {@link ImageReference}; {@link parseDigest} / {@link isDigest} for content digests.
 * - {@link parsePlatform}, {@link normalizePlatform}, {@link formatPlatform}, {@link platformMatches} and
 *   {@link hostPlatform}: OCI platforms with containerd's normalization (`aarch64` -> `arm64`,
 *   `armhf` -> `arm/v7`, `x86_64` -> `amd64`, ...) and matching rules.
 *
 * What is being built on top: the registry client (token auth, retries honoring `Retry-After`) and the puller
 * (platform resolution, concurrent verified and resumable blob downloads with progress).
 *
 * @packageDocumentation
 */
export { ImageError, type ImageErrorCode, type ImageErrorOptions } from "./errors.js";
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
