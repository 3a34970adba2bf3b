import { describe, expect, it } from "vitest";
import {
  type ImageIndex,
  isForeignLayer,
  layerCompression,
  MAX_MANIFEST_BYTES,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  parseManifest,
  selectPlatform,
  sha256Digest,
} from "./manifest.js";

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const bytes = (o: unknown) => Buffer.from(JSON.stringify(o));

const manifest = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPE_OCI_MANIFEST,
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d(1), size: 10 },
  layers: [
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d(2), size: 20 },
    { mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", digest: d(3), size: 30, urls: ["https://x/y"] },
  ],
};

function indexOf(entries: Array<Record<string, unknown>>, mediaType = MEDIA_TYPE_OCI_INDEX): ImageIndex {
  const r = parseManifest(bytes({ schemaVersion: 2, mediaType, manifests: entries }));
  return r._unsafeUnwrap() as ImageIndex;
}

describe("parseManifest", () => {
  it("parses an OCI manifest with its config and layers", () => {
    const m = parseManifest(bytes(manifest))._unsafeUnwrap();
    expect(m.kind).toBe("manifest");
    if (m.kind !== "manifest") return;
    expect(m.config.digest).toBe(d(1));
    expect(m.layers.map((l) => l.size)).toEqual([20, 30]);
    expect(m.layers[1]?.urls).toEqual(["https://x/y"]);
  });

  it("takes the media type from Content-Type when the document has none", () => {
    const { mediaType: _, ...bare } = manifest;
    const m = parseManifest(bytes({ ...bare }), `${MEDIA_TYPE_DOCKER_MANIFEST}; charset=utf-8`)._unsafeUnwrap();
    expect(m.mediaType).toBe(MEDIA_TYPE_DOCKER_MANIFEST);
  });

  it("parses Docker manifest lists with platforms", () => {
    const i = indexOf(
      [
        {
          mediaType: MEDIA_TYPE_DOCKER_MANIFEST,
          digest: d(4),
          size: 5,
          platform: { os: "linux", architecture: "arm", variant: "v7" },
        },
      ],
      MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    );
    expect(i.manifests[0]?.platform).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
  });

  it("rejects schema1 with UnsupportedMediaType and says how to fix it", () => {
    const e = parseManifest(bytes({ schemaVersion: 1, name: "x", tag: "y", fsLayers: [] }))._unsafeUnwrapErr();
    expect(e.code).toBe("UnsupportedMediaType");
    expect(e.message).toMatch(/schema1.*re-push/);
    const signed = parseManifest(
      bytes({ schemaVersion: 2 }),
      "application/vnd.docker.distribution.manifest.v1+prettyjws",
    );
    expect(signed._unsafeUnwrapErr().code).toBe("UnsupportedMediaType");
  });

  it("rejects malformed documents, bad digests and sizes, unknown types, oversize input", () => {
    expect(parseManifest(Buffer.from("{nope"))._unsafeUnwrapErr().code).toBe("InvalidManifest");
    expect(parseManifest(bytes([1]))._unsafeUnwrapErr().code).toBe("InvalidManifest");
    expect(parseManifest(bytes({ ...manifest, schemaVersion: 3 }))._unsafeUnwrapErr().code).toBe("InvalidManifest");
    const badDigest = { ...manifest, layers: [{ mediaType: "x", digest: "sha256:abc", size: 1 }] };
    expect(parseManifest(bytes(badDigest))._unsafeUnwrapErr().message).toContain("layers[0]");
    const badSize = { ...manifest, config: { ...manifest.config, size: -1 } };
    expect(parseManifest(bytes(badSize))._unsafeUnwrapErr().code).toBe("InvalidManifest");
    const artifact = { ...manifest, mediaType: "application/vnd.example+json" };
    expect(parseManifest(bytes(artifact))._unsafeUnwrapErr().code).toBe("UnsupportedMediaType");
    expect(parseManifest(new Uint8Array(MAX_MANIFEST_BYTES + 1))._unsafeUnwrapErr().message).toContain("limit");
  });
});

describe("selectPlatform", () => {
  const entries = [
    { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: d(1), size: 1, platform: { os: "linux", architecture: "amd64" } },
    {
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      digest: d(2),
      size: 1,
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    },
    {
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      digest: d(3),
      size: 1,
      platform: { os: "linux", architecture: "arm", variant: "v6" },
    },
    {
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      digest: d(4),
      size: 1,
      platform: { os: "linux", architecture: "arm", variant: "v7" },
    },
    {
      mediaType: MEDIA_TYPE_OCI_MANIFEST,
      digest: d(5),
      size: 1,
      annotations: { "vnd.docker.reference.type": "attestation-manifest" },
    },
  ];
  const idx = indexOf(entries);

  it("normalizes the wanted platform (aarch64 -> arm64, armhf -> arm/v7, x86_64 -> amd64)", () => {
    expect(selectPlatform(idx, { os: "linux", architecture: "aarch64" })._unsafeUnwrap().digest).toBe(d(2));
    expect(selectPlatform(idx, { os: "linux", architecture: "armhf" })._unsafeUnwrap().digest).toBe(d(4));
    expect(selectPlatform(idx, { os: "linux", architecture: "x86_64" })._unsafeUnwrap().digest).toBe(d(1));
  });

  it("prefers the exact variant over a compatible one", () => {
    const reordered = indexOf([entries[2], entries[3]] as Array<Record<string, unknown>>);
    expect(selectPlatform(reordered, { os: "linux", architecture: "arm", variant: "v7" })._unsafeUnwrap().digest).toBe(
      d(4),
    );
  });

  it("fails with NoMatchingPlatform listing what the index offers", () => {
    const e = selectPlatform(idx, { os: "linux", architecture: "s390x" })._unsafeUnwrapErr();
    expect(e.code).toBe("NoMatchingPlatform");
    expect(e.message).toContain("linux/s390x");
    expect(e.message).toContain("linux/amd64, linux/arm64/v8, linux/arm/v6, linux/arm/v7");
  });
});

describe("layer helpers", () => {
  it("knows compressions and foreign layers", () => {
    expect(layerCompression("application/vnd.oci.image.layer.v1.tar")).toBe("none");
    expect(layerCompression("application/vnd.docker.image.rootfs.diff.tar.gzip")).toBe("gzip");
    expect(layerCompression("application/vnd.oci.image.layer.v1.tar+zstd")).toBe("zstd");
    expect(layerCompression("application/x-thing")).toBeUndefined();
    const foreign = { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: d(1), size: 1 };
    expect(isForeignLayer(foreign)).toBe(true);
    expect(isForeignLayer({ ...foreign, mediaType: "application/vnd.oci.image.layer.v1.tar" })).toBe(false);
  });
  it("hashes bytes", () => {
    expect(sha256Digest(new Uint8Array())).toBe(
      "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  });
});
