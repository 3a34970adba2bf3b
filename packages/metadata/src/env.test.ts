import { describe, expect, it } from "vitest";
import { newEndpointId } from "./endpoint-id.js";
import { type ContainerMetadataEnvOptions, containerMetadataEnv, isSdkAcceptedCredentialsUrl } from "./env.js";
import { MetadataError } from "./errors.js";

const endpointId = "0123456789abcdef0123456789abcdef";

function failure(options: ContainerMetadataEnvOptions): MetadataError {
  const error = containerMetadataEnv(options)._unsafeUnwrapErr();
  expect(MetadataError.is(error)).toBe(true);
  expect(error.code).toBe("InvalidInput");
  return error;
}

describe("containerMetadataEnv", () => {
  it("points v4 and v3 at 169.254.170.2 by default", () => {
    expect(containerMetadataEnv({ endpointId })._unsafeUnwrap()).toStrictEqual({
      ECS_CONTAINER_METADATA_URI_V4: `http://169.254.170.2/v4/${endpointId}`,
      ECS_CONTAINER_METADATA_URI: `http://169.254.170.2/v3/${endpointId}`,
    });
  });

  it("accepts ids from newEndpointId", () => {
    const id = newEndpointId();
    const env = containerMetadataEnv({ endpointId: id })._unsafeUnwrap();
    expect(env.ECS_CONTAINER_METADATA_URI_V4).toBe(`http://169.254.170.2/v4/${id}`);
  });

  it("uses a custom base URL, dropping trailing slashes and keeping a path prefix", () => {
    const env = containerMetadataEnv({ endpointId, baseUrl: "http://127.0.0.1:51679/" })._unsafeUnwrap();
    expect(env.ECS_CONTAINER_METADATA_URI_V4).toBe(`http://127.0.0.1:51679/v4/${endpointId}`);
    const prefixed = containerMetadataEnv({ endpointId, baseUrl: "https://meta.example/tmds//" })._unsafeUnwrap();
    expect(prefixed.ECS_CONTAINER_METADATA_URI).toBe(`https://meta.example/tmds/v3/${endpointId}`);
  });

  it("sets the relative credentials URI for a credentials id", () => {
    const env = containerMetadataEnv({
      endpointId,
      credentialsId: "4a2b6c1e-9d7f-4e3a-8b5c-0f1e2d3c4b5a",
    })._unsafeUnwrap();
    expect(env).toStrictEqual({
      ECS_CONTAINER_METADATA_URI_V4: `http://169.254.170.2/v4/${endpointId}`,
      ECS_CONTAINER_METADATA_URI: `http://169.254.170.2/v3/${endpointId}`,
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/4a2b6c1e-9d7f-4e3a-8b5c-0f1e2d3c4b5a",
    });
  });

  it("sets the full URI and the token together", () => {
    const env = containerMetadataEnv({
      endpointId,
      credentialsFullUri: "http://127.0.0.1:51680/v1/credentials",
      authorizationToken: "Bearer s3cr3t-token",
    })._unsafeUnwrap();
    expect(env.AWS_CONTAINER_CREDENTIALS_FULL_URI).toBe("http://127.0.0.1:51680/v1/credentials");
    expect(env.AWS_CONTAINER_AUTHORIZATION_TOKEN).toBe("Bearer s3cr3t-token");
    expect(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI).toBeUndefined();
  });

  it.each([
    "http://127.0.0.1/creds",
    "http://127.255.255.255:8080/creds",
    "http://127.1/creds",
    "http://localhost:51680/creds",
    "http://LOCALHOST/creds",
    "http://[::1]:51680/creds",
    "http://[0000:0000:0000:0000:0000:0000:0000:0001]/creds",
    "http://169.254.170.2/v1/credentials",
    "http://169.254.170.23/v1/credentials",
    "http://[fd00:ec2::23]/v1/credentials",
    "https://credentials.example.com/v1/credentials",
  ])("accepts the full URI %s, as the AWS SDKs do", (credentialsFullUri) => {
    expect(containerMetadataEnv({ endpointId, credentialsFullUri, authorizationToken: "t" }).isOk()).toBe(true);
  });

  it.each([
    "http://10.0.0.1/creds",
    "http://128.0.0.1/creds",
    "http://169.254.170.3/creds",
    "http://169.254.169.254/latest/meta-data",
    "http://credentials.example.com/creds",
    "http://[fd00:ec2::24]/creds",
    "http://127.0.0.1.nip.io/creds",
  ])("refuses the plain-http full URI %s, which the AWS SDKs would refuse", (credentialsFullUri) => {
    const error = failure({ endpointId, credentialsFullUri, authorizationToken: "t" });
    expect(error.field).toBe("credentialsFullUri");
    expect(error.message).toContain("would be refused by the AWS SDKs");
    expect(error.message).toContain("https");
  });

  it.each([
    [{ endpointId: "not-an-id" }, "endpointId", "newEndpointId()"],
    [{ endpointId: endpointId.toUpperCase() }, "endpointId", "32 lowercase hex"],
    [{ endpointId, baseUrl: "169.254.170.2" }, "baseUrl", "not an absolute URL"],
    [{ endpointId, baseUrl: "ftp://169.254.170.2" }, "baseUrl", "http: or https:"],
    [{ endpointId, baseUrl: "http://169.254.170.2/?x=1" }, "baseUrl", "query or fragment"],
    [{ endpointId, baseUrl: "http://u:p@169.254.170.2" }, "baseUrl", "user name or password"],
    [{ endpointId, baseUrl: "" }, "baseUrl", "non-empty"],
    [{ endpointId, credentialsId: "" }, "credentialsId", "1-256 characters"],
    [{ endpointId, credentialsId: "../admin" }, "credentialsId", "URL path segment"],
    [{ endpointId, credentialsId: "a b" }, "credentialsId", "letters, digits"],
    [{ endpointId, credentialsId: "x", authorizationToken: "t" }, "authorizationToken", "credentialsFullUri only"],
    [
      { endpointId, credentialsId: "x", credentialsFullUri: "http://127.0.0.1/", authorizationToken: "t" },
      "credentialsFullUri",
      "not both",
    ],
    [{ endpointId, credentialsFullUri: "http://127.0.0.1/" }, "authorizationToken", "needs an authorizationToken"],
    [{ endpointId, authorizationToken: "t" }, "authorizationToken", "without credentialsFullUri"],
    [
      { endpointId, credentialsFullUri: "http://127.0.0.1/", authorizationToken: "a\r\nX-Injected: 1" },
      "authorizationToken",
      "CR/LF",
    ],
    [
      { endpointId, credentialsFullUri: "http://127.0.0.1/", authorizationToken: "" },
      "authorizationToken",
      "HTTP header",
    ],
    [
      { endpointId, credentialsFullUri: "http://127.0.0.1/", authorizationToken: " t" },
      "authorizationToken",
      "leading",
    ],
    [{ endpointId, credentialsFullUri: "file:///etc/passwd", authorizationToken: "t" }, "credentialsFullUri", "http:"],
    [
      { endpointId, credentialsFullUri: "/v2/credentials/x", authorizationToken: "t" },
      "credentialsFullUri",
      "absolute",
    ],
  ] as const)("rejects %j (field %s)", (options, field, message) => {
    const error = failure(options as ContainerMetadataEnvOptions);
    expect(error.field).toBe(field);
    expect(error.message).toContain(message);
  });

  it("keeps the URL parser's error as the cause", () => {
    expect(failure({ endpointId, baseUrl: "::" }).cause).toBeInstanceOf(TypeError);
  });
});

describe("isSdkAcceptedCredentialsUrl", () => {
  it("accepts https anywhere and http only to the SDKs' hosts", () => {
    expect(isSdkAcceptedCredentialsUrl(new URL("https://10.0.0.1/"))).toBe(true);
    expect(isSdkAcceptedCredentialsUrl(new URL("http://127.9.8.7/"))).toBe(true);
    expect(isSdkAcceptedCredentialsUrl(new URL("http://10.0.0.1/"))).toBe(false);
    expect(isSdkAcceptedCredentialsUrl(new URL("ws://127.0.0.1/"))).toBe(false);
  });
});
