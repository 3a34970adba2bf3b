import { describe, expect, it } from "vitest";
import { ImageError } from "./errors.js";
import {
  DEFAULT_TAG,
  DOCKER_HUB_API_HOST,
  DOCKER_HUB_REGISTRY,
  type ImageReference,
  isDigest,
  parseDigest,
  parseReference,
} from "./reference.js";

const SHA256 = `sha256:${"f".repeat(64)}`;
const SHA256_REAL = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
const SHA512 = `sha512:${"f".repeat(128)}`;
const HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

interface Parts {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
  /** Expected toString(). */
  readonly canonical: string;
  /** Expected familiar(). */
  readonly familiar: string;
}

function parts(ref: ImageReference): Omit<Parts, "canonical" | "familiar"> {
  return {
    registry: ref.registry,
    repository: ref.repository,
    ...(ref.tag === undefined ? {} : { tag: ref.tag }),
    ...(ref.digest === undefined ? {} : { digest: ref.digest }),
  };
}

// Valid references: the input, then what it must parse to. Cases marked (d/r) come from
// github.com/distribution/reference's own tests (reference_test.go, normalize_test.go).
const VALID: ReadonlyArray<readonly [string, Parts]> = [
  // Docker Hub normalization.
  [
    "busybox",
    {
      registry: "docker.io",
      repository: "library/busybox",
      tag: "latest",
      canonical: "docker.io/library/busybox:latest",
      familiar: "busybox:latest",
    },
  ],
  [
    "busybox:1.36.1",
    {
      registry: "docker.io",
      repository: "library/busybox",
      tag: "1.36.1",
      canonical: "docker.io/library/busybox:1.36.1",
      familiar: "busybox:1.36.1",
    },
  ],
  [
    "library/busybox",
    {
      registry: "docker.io",
      repository: "library/busybox",
      tag: "latest",
      canonical: "docker.io/library/busybox:latest",
      familiar: "busybox:latest",
    },
  ],
  [
    "docker.io/busybox",
    {
      registry: "docker.io",
      repository: "library/busybox",
      tag: "latest",
      canonical: "docker.io/library/busybox:latest",
      familiar: "busybox:latest",
    },
  ],
  [
    "docker.io/library/busybox:latest",
    {
      registry: "docker.io",
      repository: "library/busybox",
      tag: "latest",
      canonical: "docker.io/library/busybox:latest",
      familiar: "busybox:latest",
    },
  ],
  [
    "index.docker.io/library/debian",
    {
      registry: "docker.io",
      repository: "library/debian",
      tag: "latest",
      canonical: "docker.io/library/debian:latest",
      familiar: "debian:latest",
    },
  ],
  [
    "index.docker.io/debian",
    {
      registry: "docker.io",
      repository: "library/debian",
      tag: "latest",
      canonical: "docker.io/library/debian:latest",
      familiar: "debian:latest",
    },
  ],
  [
    "index.docker.io/docker/docker",
    {
      registry: "docker.io",
      repository: "docker/docker",
      tag: "latest",
      canonical: "docker.io/docker/docker:latest",
      familiar: "docker/docker:latest",
    },
  ],
  [
    "dmcgowan/myapp", // (d/r)
    {
      registry: "docker.io",
      repository: "dmcgowan/myapp",
      tag: "latest",
      canonical: "docker.io/dmcgowan/myapp:latest",
      familiar: "dmcgowan/myapp:latest",
    },
  ],
  [
    "library/foo/bar", // (d/r) nested library paths stay as written in the familiar form
    {
      registry: "docker.io",
      repository: "library/foo/bar",
      tag: "latest",
      canonical: "docker.io/library/foo/bar:latest",
      familiar: "library/foo/bar:latest",
    },
  ],
  [
    "other/library", // (d/r)
    {
      registry: "docker.io",
      repository: "other/library",
      tag: "latest",
      canonical: "docker.io/other/library:latest",
      familiar: "other/library:latest",
    },
  ],
  [
    "ubuntu-12.04-base", // (d/r)
    {
      registry: "docker.io",
      repository: "library/ubuntu-12.04-base",
      tag: "latest",
      canonical: "docker.io/library/ubuntu-12.04-base:latest",
      familiar: "ubuntu-12.04-base:latest",
    },
  ],
  [
    "test_com", // (d/r) underscores: a path component, not a registry
    {
      registry: "docker.io",
      repository: "library/test_com",
      tag: "latest",
      canonical: "docker.io/library/test_com:latest",
      familiar: "test_com:latest",
    },
  ],
  [
    "test_com/foo", // (d/r)
    {
      registry: "docker.io",
      repository: "test_com/foo",
      tag: "latest",
      canonical: "docker.io/test_com/foo:latest",
      familiar: "test_com/foo:latest",
    },
  ],
  [
    "test.com:tag", // (d/r) one component: "test.com" is the repository, "tag" the tag
    {
      registry: "docker.io",
      repository: "library/test.com",
      tag: "tag",
      canonical: "docker.io/library/test.com:tag",
      familiar: "test.com:tag",
    },
  ],
  [
    "test.com:5000", // (d/r) same: 5000 is a tag here, not a port
    {
      registry: "docker.io",
      repository: "library/test.com",
      tag: "5000",
      canonical: "docker.io/library/test.com:5000",
      familiar: "test.com:5000",
    },
  ],
  [
    "192.168.1.1:5000", // (d/r)
    {
      registry: "docker.io",
      repository: "library/192.168.1.1",
      tag: "5000",
      canonical: "docker.io/library/192.168.1.1:5000",
      familiar: "192.168.1.1:5000",
    },
  ],
  [
    "foo_bar.com:8080", // (d/r)
    {
      registry: "docker.io",
      repository: "library/foo_bar.com",
      tag: "8080",
      canonical: "docker.io/library/foo_bar.com:8080",
      familiar: "foo_bar.com:8080",
    },
  ],
  [
    "foo/foo_bar.com:8080", // (d/r) "foo" has no '.' or ':' so it is not a registry
    {
      registry: "docker.io",
      repository: "foo/foo_bar.com",
      tag: "8080",
      canonical: "docker.io/foo/foo_bar.com:8080",
      familiar: "foo/foo_bar.com:8080",
    },
  ],
  [
    "localhost", // (d/r) a lone "localhost" is a Docker Hub repository name
    {
      registry: "docker.io",
      repository: "library/localhost",
      tag: "latest",
      canonical: "docker.io/library/localhost:latest",
      familiar: "localhost:latest",
    },
  ],
  [
    `docker.io/${HEX64}`, // (d/r) hex names are fine once a registry disambiguates them
    {
      registry: "docker.io",
      repository: `library/${HEX64}`,
      tag: "latest",
      canonical: `docker.io/library/${HEX64}:latest`,
      familiar: `${HEX64}:latest`,
    },
  ],
  [
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", // (d/r) 64 chars, not hex
    {
      registry: "docker.io",
      repository: "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
      tag: "latest",
      canonical: "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
      familiar: "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
    },
  ],
  // Separators inside path components (d/r).
  [
    "docker---rules/docker",
    {
      registry: "docker.io",
      repository: "docker---rules/docker",
      tag: "latest",
      canonical: "docker.io/docker---rules/docker:latest",
      familiar: "docker---rules/docker:latest",
    },
  ],
  [
    "dock__er/d",
    {
      registry: "docker.io",
      repository: "dock__er/d",
      tag: "latest",
      canonical: "docker.io/dock__er/d:latest",
      familiar: "dock__er/d:latest",
    },
  ],
  [
    "jess/t",
    {
      registry: "docker.io",
      repository: "jess/t",
      tag: "latest",
      canonical: "docker.io/jess/t:latest",
      familiar: "jess/t:latest",
    },
  ],
  // Tags.
  [
    "lowercase:Uppercase", // (d/r) tags may be uppercase
    {
      registry: "docker.io",
      repository: "library/lowercase",
      tag: "Uppercase",
      canonical: "docker.io/library/lowercase:Uppercase",
      familiar: "lowercase:Uppercase",
    },
  ],
  [
    `app:_${"x".repeat(127)}`, // the longest tag: 128 characters
    {
      registry: "docker.io",
      repository: "library/app",
      tag: `_${"x".repeat(127)}`,
      canonical: `docker.io/library/app:_${"x".repeat(127)}`,
      familiar: `app:_${"x".repeat(127)}`,
    },
  ],
  // Other registries.
  [
    "ghcr.io/owner/app:v1",
    {
      registry: "ghcr.io",
      repository: "owner/app",
      tag: "v1",
      canonical: "ghcr.io/owner/app:v1",
      familiar: "ghcr.io/owner/app:v1",
    },
  ],
  [
    "example.com/privatebase", // (d/r) no library/ prefix outside Docker Hub
    {
      registry: "example.com",
      repository: "privatebase",
      tag: "latest",
      canonical: "example.com/privatebase:latest",
      familiar: "example.com/privatebase:latest",
    },
  ],
  [
    "sub-dom1.foo.com/bar/baz/quux:some-long-tag", // (d/r)
    {
      registry: "sub-dom1.foo.com",
      repository: "bar/baz/quux",
      tag: "some-long-tag",
      canonical: "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
      familiar: "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
    },
  ],
  [
    "b.gcr.io/test.example.com/my-app:test.example.com", // (d/r)
    {
      registry: "b.gcr.io",
      repository: "test.example.com/my-app",
      tag: "test.example.com",
      canonical: "b.gcr.io/test.example.com/my-app:test.example.com",
      familiar: "b.gcr.io/test.example.com/my-app:test.example.com",
    },
  ],
  [
    "xn--n3h.com/myimage:xn--n3h.com", // (d/r) punycode domain
    {
      registry: "xn--n3h.com",
      repository: "myimage",
      tag: "xn--n3h.com",
      canonical: "xn--n3h.com/myimage:xn--n3h.com",
      familiar: "xn--n3h.com/myimage:xn--n3h.com",
    },
  ],
  [
    `xn--7o8h.com/myimage:xn--7o8h.com@${SHA512}`, // (d/r) sha512, tag and digest
    {
      registry: "xn--7o8h.com",
      repository: "myimage",
      tag: "xn--7o8h.com",
      digest: SHA512,
      canonical: `xn--7o8h.com/myimage:xn--7o8h.com@${SHA512}`,
      familiar: `xn--7o8h.com/myimage:xn--7o8h.com@${SHA512}`,
    },
  ],
  [
    "Registry.Example.COM/app", // host names may use uppercase; they are kept as written
    {
      registry: "Registry.Example.COM",
      repository: "app",
      tag: "latest",
      canonical: "Registry.Example.COM/app:latest",
      familiar: "Registry.Example.COM/app:latest",
    },
  ],
  // Ports, localhost, IP addresses.
  [
    "localhost/app",
    {
      registry: "localhost",
      repository: "app",
      tag: "latest",
      canonical: "localhost/app:latest",
      familiar: "localhost/app:latest",
    },
  ],
  [
    "localhost:5000/team/app:dev",
    {
      registry: "localhost:5000",
      repository: "team/app",
      tag: "dev",
      canonical: "localhost:5000/team/app:dev",
      familiar: "localhost:5000/team/app:dev",
    },
  ],
  [
    "test:5000/repo", // (d/r) a port makes a single-label host a registry
    {
      registry: "test:5000",
      repository: "repo",
      tag: "latest",
      canonical: "test:5000/repo:latest",
      familiar: "test:5000/repo:latest",
    },
  ],
  [
    `test:5000/repo:tag@${SHA256}`, // (d/r)
    {
      registry: "test:5000",
      repository: "repo",
      tag: "tag",
      digest: SHA256,
      canonical: `test:5000/repo:tag@${SHA256}`,
      familiar: `test:5000/repo:tag@${SHA256}`,
    },
  ],
  [
    "test-com:8080/foo", // (d/r)
    {
      registry: "test-com:8080",
      repository: "foo",
      tag: "latest",
      canonical: "test-com:8080/foo:latest",
      familiar: "test-com:8080/foo:latest",
    },
  ],
  [
    "192.168.1.1/repo", // (d/r)
    {
      registry: "192.168.1.1",
      repository: "repo",
      tag: "latest",
      canonical: "192.168.1.1/repo:latest",
      familiar: "192.168.1.1/repo:latest",
    },
  ],
  [
    "192.168.1.1:5000/repo:5050", // (d/r)
    {
      registry: "192.168.1.1:5000",
      repository: "repo",
      tag: "5050",
      canonical: "192.168.1.1:5000/repo:5050",
      familiar: "192.168.1.1:5000/repo:5050",
    },
  ],
  [
    "127.0.0.1:8000/private/moonbase", // (d/r)
    {
      registry: "127.0.0.1:8000",
      repository: "private/moonbase",
      tag: "latest",
      canonical: "127.0.0.1:8000/private/moonbase:latest",
      familiar: "127.0.0.1:8000/private/moonbase:latest",
    },
  ],
  [
    "[2001:db8::1]/repo", // (d/r) IPv6 literal without a port
    {
      registry: "[2001:db8::1]",
      repository: "repo",
      tag: "latest",
      canonical: "[2001:db8::1]/repo:latest",
      familiar: "[2001:db8::1]/repo:latest",
    },
  ],
  [
    "[2001:db8:1:2:3:4:5:6]/repo:tag", // (d/r)
    {
      registry: "[2001:db8:1:2:3:4:5:6]",
      repository: "repo",
      tag: "tag",
      canonical: "[2001:db8:1:2:3:4:5:6]/repo:tag",
      familiar: "[2001:db8:1:2:3:4:5:6]/repo:tag",
    },
  ],
  [
    "[::1]:5000/repo", // (d/r)
    {
      registry: "[::1]:5000",
      repository: "repo",
      tag: "latest",
      canonical: "[::1]:5000/repo:latest",
      familiar: "[::1]:5000/repo:latest",
    },
  ],
  [
    "[2001:db8::]:5000/repo", // (d/r)
    {
      registry: "[2001:db8::]:5000",
      repository: "repo",
      tag: "latest",
      canonical: "[2001:db8::]:5000/repo:latest",
      familiar: "[2001:db8::]:5000/repo:latest",
    },
  ],
  [
    `[2001:db8::1]:5000/repo:tag@${SHA256}`, // (d/r)
    {
      registry: "[2001:db8::1]:5000",
      repository: "repo",
      tag: "tag",
      digest: SHA256,
      canonical: `[2001:db8::1]:5000/repo:tag@${SHA256}`,
      familiar: `[2001:db8::1]:5000/repo:tag@${SHA256}`,
    },
  ],
  [
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian", // (d/r) library/ is only special on Docker Hub
    {
      registry: "[fc00:1:2:3:4:5:6:7]:5000",
      repository: "library/debian",
      tag: "latest",
      canonical: "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest",
      familiar: "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest",
    },
  ],
  // Digests.
  [
    `redis@${SHA256_REAL}`, // (d/r) a digest without a tag gets no default tag
    {
      registry: "docker.io",
      repository: "library/redis",
      digest: SHA256_REAL,
      canonical: `docker.io/library/redis@${SHA256_REAL}`,
      familiar: `redis@${SHA256_REAL}`,
    },
  ],
  [
    `busybox:latest@${SHA256_REAL}`, // (d/r) both tag and digest are kept
    {
      registry: "docker.io",
      repository: "library/busybox",
      tag: "latest",
      digest: SHA256_REAL,
      canonical: `docker.io/library/busybox:latest@${SHA256_REAL}`,
      familiar: `busybox:latest@${SHA256_REAL}`,
    },
  ],
  [
    `other.com/named@${SHA256_REAL}`, // (d/r)
    {
      registry: "other.com",
      repository: "named",
      digest: SHA256_REAL,
      canonical: `other.com/named@${SHA256_REAL}`,
      familiar: `other.com/named@${SHA256_REAL}`,
    },
  ],
  // Length limits: 255 characters of (normalized) repository is allowed.
  [
    `${"a/".repeat(127)}a:tag-puts-this-over-max`, // (d/r)
    {
      registry: "docker.io",
      repository: `${"a/".repeat(127)}a`,
      tag: "tag-puts-this-over-max",
      canonical: `docker.io/${"a/".repeat(127)}a:tag-puts-this-over-max`,
      familiar: `${"a/".repeat(127)}a:tag-puts-this-over-max`,
    },
  ],
  [
    "x".repeat(247), // 247 + "library/" = 255
    {
      registry: "docker.io",
      repository: `library/${"x".repeat(247)}`,
      tag: "latest",
      canonical: `docker.io/library/${"x".repeat(247)}:latest`,
      familiar: `${"x".repeat(247)}:latest`,
    },
  ],
];

// Invalid references: the input, then text the error message must contain (naming the bad part).
const INVALID: ReadonlyArray<readonly [string, string]> = [
  ["", "empty"],
  [":justtag", "no repository name"], // (d/r)
  [`@${SHA256}`, "no repository name"], // (d/r)
  [HEX64, "image ID"], // (d/r)
  ["https://github.com/docker/docker", `drop "https://"`], // (d/r)
  ["Uppercase:tag", `component "Uppercase" has uppercase`], // (d/r)
  ["test:5000/Uppercase/lowercase:tag", `write "uppercase/lowercase"`], // (d/r)
  ["docker/Docker", `component "Docker"`], // (d/r)
  ["docker.io/docker/Docker", `component "Docker"`], // (d/r)
  ["Docker/docker", `component "Docker"`], // berth: only '.', ':' or localhost make a registry
  ["-docker", `component "-docker"`], // (d/r)
  ["-docker/docker", `component "-docker"`], // (d/r)
  ["docker-/docker", `component "docker-"`], // (d/r)
  ["-docker.io/docker/docker", `registry "-docker.io"`], // (d/r)
  ["docker///docker", "empty path component"], // (d/r)
  ["docker.io/docker///docker", "empty path component"], // (d/r)
  ["docker/", "empty path component"], // (d/r)
  ["/busybox", "empty path component"],
  ["docker.io/", `registry "docker.io" is not followed by a repository`],
  ["____/____", `component "____"`], // (d/r)
  ["_docker/_docker", `component "_docker"`], // (d/r)
  ["dock..er/docker", `registry "dock..er"`], // (d/r) a "." makes the first component a registry
  ["dock_.er/docker", `registry "dock_.er"`], // (d/r)
  ["dock-.er/docker", `registry "dock-.er"`], // (d/r)
  ["team/dock..er", `component "dock..er"`],
  ["team/dock_.er", `component "dock_.er"`],
  ["dock___er/docker", `component "dock___er"`],
  ["aa/asdf$$^/aa", `component "asdf$$^"`], // (d/r)
  ["busy box", `component "busy box"`],
  ["ünicode/app", `component "ünicode"`],
  ["[2001:db8::1]", `"[2001:db8::1]" is only a registry`], // (d/r)
  ["[2001:db8::1]:5000", `"[2001:db8::1]:5000" is only a registry`], // (d/r)
  ["[2001:db8::1]:tag", `is only a registry`], // (d/r)
  ["[fe80::1%eth0]:5000/repo", `registry "[fe80::1%eth0]:5000"`], // (d/r) zone identifiers are not allowed
  ["[fe80::1%@invalidzone]:5000/repo", `"[fe80::1%" is only a registry`], // (d/r) '@' starts the digest
  ["[2001:db8:3:4::192.0.2.33]:5000/debian", `registry "[2001:db8:3:4::192.0.2.33]:5000"`], // (d/r)
  ["fc00::1:5000/debian", `registry "fc00::1:5000"`], // (d/r)
  ["registry.example.com:http/app", `registry "registry.example.com:http"`],
  ["localhost:99999/app", "port 99999"],
  ["localhost:0/app", "port 0"],
  ["busybox:", "tag after ':' is empty"],
  ["busybox:-dev", `tag "-dev"`],
  ["busybox:.dev", `tag ".dev"`],
  ["busybox:a+b", `tag "a+b"`],
  [`busybox:${"t".repeat(129)}`, "129 characters long; at most 128"],
  ["busybox@", "digest after '@' is empty"],
  [`repo@sha256:${"f".repeat(34)}`, "34 characters but must have exactly 64"], // (d/r)
  [`validname@invaliddigest:${"f".repeat(64)}`, `algorithm "invaliddigest" is not supported`], // (d/r)
  [`repo@SHA256:${"f".repeat(64)}`, `algorithm "SHA256" is not supported`],
  [`repo@sha256:${"F".repeat(64)}`, "must be lowercase"],
  [`repo@sha256:${"g".repeat(64)}`, "characters other than 0-9 and a-f"],
  [`repo@sha512:${"f".repeat(64)}`, "must have exactly 128"],
  ["repo@ffff", "must have the form <algorithm>:<hex>"],
  [`repo@1sha:${"f".repeat(64)}`, `algorithm "1sha" is malformed`],
  [`repo@${SHA256}@${SHA256}`, "characters other than 0-9 and a-f"],
  [`${"a/".repeat(128)}a:tag`, "257 characters long; at most 255"], // (d/r)
  ["x".repeat(248), "256 characters long; at most 255"],
  [
    // (d/r) namespace too long
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
    "at most 255",
  ],
];

describe("parseReference: valid references", () => {
  it.each(VALID)("%s", (input, want) => {
    const ref = parseReference(input)._unsafeUnwrap();
    const { canonical, familiar, ...fields } = want;
    expect(parts(ref)).toEqual(fields);
    expect(ref.toString()).toBe(canonical);
    expect(String(ref)).toBe(canonical);
    expect(`${ref}`).toBe(canonical);
    expect(ref.familiar()).toBe(familiar);
  });

  it.each(VALID)("round-trips %s through toString() and familiar()", (input) => {
    const ref = parseReference(input)._unsafeUnwrap();
    expect(parseReference(ref.toString())._unsafeUnwrap()).toEqual(ref);
    expect(parseReference(ref.familiar())._unsafeUnwrap()).toEqual(ref);
    expect(parseReference(ref.toString())._unsafeUnwrap().toString()).toBe(ref.toString());
  });

  it("has at least 40 valid and 40 invalid cases", () => {
    expect(VALID.length).toBeGreaterThanOrEqual(40);
    expect(INVALID.length).toBeGreaterThanOrEqual(40);
  });
});

describe("parseReference: invalid references", () => {
  it.each(INVALID)("rejects %j", (input, mention) => {
    const e = parseReference(input)._unsafeUnwrapErr();
    expect(ImageError.is(e)).toBe(true);
    expect(e.code).toBe("InvalidReference");
    expect(e.reference).toBe(input);
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(`invalid image reference ${JSON.stringify(input)}`);
    expect(e.message).toContain(mention);
    // Every message shows a way to write it correctly.
    expect(e.message).toMatch(/e\.g\.|write|drop/);
  });

  it("suggests the lowercase spelling for uppercase repositories", () => {
    const e = parseReference("ghcr.io/Owner/App:v1")._unsafeUnwrapErr();
    expect(e.message).toContain(`repository "Owner/App" must be lowercase`);
    expect(e.message).toContain(`write "owner/app"`);
  });

  it("hints how to name a registry when an uppercase first component was meant as one", () => {
    const e = parseReference("MyRegistry/app")._unsafeUnwrapErr();
    expect(e.message).toContain(`write "myregistry/app"`);
    expect(e.message).toContain(`if "MyRegistry" is a registry host`);
    expect(e.message).toContain(`"myregistry.example.com/app"`);
    expect(parseReference("docker/App")._unsafeUnwrapErr().message).not.toContain("registry host");
    expect(parseReference("localhost/App/x")._unsafeUnwrapErr().message).not.toContain("registry host");
  });

  it("names the single-component form as the user wrote it, without library/", () => {
    const e = parseReference("BusyBox")._unsafeUnwrapErr();
    expect(e.message).toContain(`repository "BusyBox" must be lowercase`);
    expect(e.message).toContain(`write "busybox"`);
  });

  it("suggests the digest form for a bare image ID", () => {
    expect(parseReference(HEX64)._unsafeUnwrapErr().message).toContain(`busybox@sha256:${HEX64}`);
  });
});

describe("ImageReference helpers", () => {
  it.each([
    ["busybox", DOCKER_HUB_API_HOST],
    ["docker.io/library/busybox", DOCKER_HUB_API_HOST],
    ["index.docker.io/library/busybox", DOCKER_HUB_API_HOST],
    ["ghcr.io/owner/app", "ghcr.io"],
    ["localhost:5000/app", "localhost:5000"],
    ["[::1]:5000/app", "[::1]:5000"],
    ["registry-1.docker.io/library/busybox", "registry-1.docker.io"],
  ])("apiHost() of %s is %s", (input, host) => {
    expect(parseReference(input)._unsafeUnwrap().apiHost()).toBe(host);
  });

  it.each([
    ["busybox", "latest"],
    ["busybox:1.36", "1.36"],
    [`busybox@${SHA256_REAL}`, SHA256_REAL],
    [`busybox:1.36@${SHA256_REAL}`, SHA256_REAL],
  ])("manifestRef() of %s is %s", (input, want) => {
    expect(parseReference(input)._unsafeUnwrap().manifestRef()).toBe(want);
  });

  it("defaults the tag only when neither tag nor digest is given", () => {
    expect(parseReference("busybox")._unsafeUnwrap().tag).toBe(DEFAULT_TAG);
    const pinned = parseReference(`busybox@${SHA256_REAL}`)._unsafeUnwrap();
    expect(pinned.tag).toBeUndefined();
    expect("tag" in pinned).toBe(false);
    expect(pinned.registry).toBe(DOCKER_HUB_REGISTRY);
  });

  it("is immutable", () => {
    const ref = parseReference("busybox:1.36")._unsafeUnwrap();
    expect(Object.isFrozen(ref)).toBe(true);
    expect(() => {
      (ref as { tag?: string }).tag = "other";
    }).toThrow(TypeError);
    expect(() => {
      (ref as unknown as { registry: string }).registry = "evil.example.com";
    }).toThrow(TypeError);
    expect(ref.toString()).toBe("docker.io/library/busybox:1.36");
  });

  it("serializes its fields as JSON", () => {
    const ref = parseReference(`ghcr.io/owner/app:v1@${SHA256_REAL}`)._unsafeUnwrap();
    expect(JSON.parse(JSON.stringify(ref))).toEqual({
      registry: "ghcr.io",
      repository: "owner/app",
      tag: "v1",
      digest: SHA256_REAL,
    });
  });

  it("compares equal when two spellings name the same image", () => {
    const spellings = ["busybox", "busybox:latest", "library/busybox", "docker.io/busybox:latest"];
    const refs = spellings.map((s) => parseReference(s)._unsafeUnwrap());
    for (const ref of refs) expect(ref).toEqual(refs[0]);
    expect(parseReference("busybox:1")._unsafeUnwrap()).not.toEqual(refs[0]);
  });
});

describe("parseDigest / isDigest", () => {
  it.each([
    [SHA256, "sha256", "f".repeat(64)],
    [SHA256_REAL, "sha256", SHA256_REAL.slice("sha256:".length)],
    [SHA512, "sha512", "f".repeat(128)],
  ])("parses %s", (input, algorithm, hex) => {
    expect(parseDigest(input)._unsafeUnwrap()).toEqual({ algorithm, hex });
    expect(isDigest(input)).toBe(true);
  });

  it.each([
    ["", "must have the form <algorithm>:<hex>"],
    ["sha256", "must have the form <algorithm>:<hex>"],
    ["sha256:", "0 characters but must have exactly 64"],
    [`sha256:${"f".repeat(63)}`, "63 characters but must have exactly 64"],
    [`sha256:${"f".repeat(65)}`, "65 characters but must have exactly 64"],
    [`sha512:${"f".repeat(127)}`, "must have exactly 128"],
    [`sha256:${"A".repeat(64)}`, `write "sha256:${"a".repeat(64)}"`],
    [`md5:${"f".repeat(32)}`, `algorithm "md5" is not supported: use sha256 or sha512`],
    [`sha256+b64:${"f".repeat(64)}`, `algorithm "sha256+b64" is not supported`],
    [`:${"f".repeat(64)}`, `algorithm "" is malformed`],
    [`sha256:${"f".repeat(63)}z`, "characters other than 0-9 and a-f"],
    [` ${SHA256}`, `algorithm " sha256" is malformed`],
  ])("rejects %j", (input, mention) => {
    const e = parseDigest(input)._unsafeUnwrapErr();
    expect(e.code).toBe("InvalidReference");
    expect(e.message).toContain("invalid digest");
    expect(e.message).toContain(mention);
    expect(isDigest(input)).toBe(false);
  });
});
