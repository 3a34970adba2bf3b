import { err, ok, type Result } from "neverthrow";
import { isEndpointId } from "./endpoint-id.js";
import { MetadataError } from "./errors.js";

/** The link-local address tasks reach the ECS metadata and credentials endpoints on. */
export const DEFAULT_METADATA_BASE_URL = "http://169.254.170.2";

/** Options of {@link containerMetadataEnv}. */
export interface ContainerMetadataEnvOptions {
  /**
   * Where the container reaches the metadata server: an `http:`/`https:` URL, optionally with a
   * path prefix. Default {@link DEFAULT_METADATA_BASE_URL}.
   */
  readonly baseUrl?: string;
  /** The container's endpoint id (from `newEndpointId()`). */
  readonly endpointId: string;
  /**
   * The id of the credentials the container may fetch. Sets `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`
   * to `/v2/credentials/<id>`; the AWS SDKs always resolve it against `http://169.254.170.2`, whatever
   * `baseUrl` says. Letters, digits and `-._~`, at most 256 characters.
   */
  readonly credentialsId?: string;
  /**
   * A full credentials URL instead of {@link credentialsId}; requires {@link authorizationToken}.
   * Must be `https:`, or `http:` to a host the AWS SDKs accept: loopback (`127.0.0.0/8`, `[::1]`,
   * `localhost`), the ECS host `169.254.170.2` or the EKS hosts `169.254.170.23` / `[fd00:ec2::23]`.
   */
  readonly credentialsFullUri?: string;
  /** The token the SDKs send as the `Authorization` header to {@link credentialsFullUri}. */
  readonly authorizationToken?: string;
}

const CREDENTIALS_ID = /^[A-Za-z0-9._~-]{1,256}$/;
// Node's http module refuses header values outside TAB, SP..~ and 0x80..0xFF.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]+$/;
const MAX_TOKEN_LENGTH = 8192;

// The hosts @aws-sdk/credential-provider-http (fromHttp's checkUrl) accepts over plain http, as
// WHATWG URL hostnames (IPv6 in brackets, IPv4 in canonical dotted-decimal form).
const SDK_HTTP_HOSTS: ReadonlySet<string> = new Set([
  "169.254.170.2",
  "169.254.170.23",
  "[fd00:ec2::23]",
  "[::1]",
  "localhost",
]);
const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function invalid(field: string, message: string): Result<never, MetadataError> {
  return err(new MetadataError("InvalidInput", message, { field }));
}

function parseHttpUrl(field: string, value: unknown): Result<URL, MetadataError> {
  if (typeof value !== "string" || value.length === 0) {
    return invalid(field, `${field} must be a non-empty http:// or https:// URL`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    return err(
      new MetadataError("InvalidInput", `${field} ${JSON.stringify(value)} is not an absolute URL (e.g. http://host)`, {
        field,
        cause,
      }),
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return invalid(field, `${field} ${JSON.stringify(value)} must use http: or https:, not ${url.protocol}`);
  }
  if (url.username !== "" || url.password !== "") {
    return invalid(field, `${field} must not carry a user name or password; pass the token as authorizationToken`);
  }
  return ok(url);
}

/** True when the AWS SDKs' HTTP credentials provider would fetch from `url` (see its `checkUrl`). */
export function isSdkAcceptedCredentialsUrl(url: URL): boolean {
  if (url.protocol === "https:") return true;
  if (url.protocol !== "http:") return false;
  if (SDK_HTTP_HOSTS.has(url.hostname)) return true;
  const m = LOOPBACK_V4.exec(url.hostname);
  return m?.slice(1).every((part) => Number(part) <= 255) === true;
}

/**
 * The environment variables a container needs to find its metadata and credentials endpoints,
 * as the ECS agent injects them:
 *
 * - `ECS_CONTAINER_METADATA_URI_V4` = `<baseUrl>/v4/<endpointId>`
 * - `ECS_CONTAINER_METADATA_URI` = `<baseUrl>/v3/<endpointId>`
 * - with `credentialsId`: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` = `/v2/credentials/<credentialsId>`
 * - with `credentialsFullUri`: `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN`
 *
 * Fails with `InvalidInput` (naming the option in `field`) for a malformed endpoint id or URL, both
 * credential styles at once, a full URI without a token (or a token without a full URI), or a full
 * URI the AWS SDKs would refuse.
 */
export function containerMetadataEnv(
  options: ContainerMetadataEnvOptions,
): Result<Record<string, string>, MetadataError> {
  const { endpointId, credentialsId, credentialsFullUri, authorizationToken } = options;
  if (!isEndpointId(endpointId)) {
    return invalid(
      "endpointId",
      `endpointId ${JSON.stringify(endpointId)} is not an endpoint id (32 lowercase hex digits); create one with newEndpointId()`,
    );
  }
  const base = parseHttpUrl("baseUrl", options.baseUrl ?? DEFAULT_METADATA_BASE_URL);
  if (base.isErr()) return err(base.error);
  if (base.value.search !== "" || base.value.hash !== "") {
    return invalid("baseUrl", "baseUrl must not have a query or fragment: clients append /task, /stats to it");
  }
  const prefix = `${base.value.origin}${base.value.pathname.replace(/\/+$/, "")}`;
  const env: Record<string, string> = {
    ECS_CONTAINER_METADATA_URI_V4: `${prefix}/v4/${endpointId}`,
    ECS_CONTAINER_METADATA_URI: `${prefix}/v3/${endpointId}`,
  };

  if (credentialsId !== undefined && credentialsFullUri !== undefined) {
    return invalid(
      "credentialsFullUri",
      "pass either credentialsId (relative URI on 169.254.170.2) or credentialsFullUri, not both: " +
        "the AWS SDKs would use the relative URI and ignore the full one",
    );
  }
  if (credentialsId !== undefined) {
    if (typeof credentialsId !== "string" || !CREDENTIALS_ID.test(credentialsId)) {
      return invalid(
        "credentialsId",
        `credentialsId ${JSON.stringify(credentialsId)} must be 1-256 characters of letters, digits and -._~ ` +
          "(it becomes a URL path segment), e.g. a UUID",
      );
    }
    if (authorizationToken !== undefined) {
      return invalid(
        "authorizationToken",
        "authorizationToken goes with credentialsFullUri only; the relative URI endpoint is reached without one",
      );
    }
    env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = `/v2/credentials/${credentialsId}`;
    return ok(env);
  }
  if (credentialsFullUri !== undefined) {
    const full = parseHttpUrl("credentialsFullUri", credentialsFullUri);
    if (full.isErr()) return err(full.error);
    if (!isSdkAcceptedCredentialsUrl(full.value)) {
      return invalid(
        "credentialsFullUri",
        `credentialsFullUri ${JSON.stringify(credentialsFullUri)} would be refused by the AWS SDKs: over plain http ` +
          "they only accept loopback (127.0.0.0/8, [::1], localhost), the ECS host 169.254.170.2 or the EKS hosts " +
          "169.254.170.23 / [fd00:ec2::23]; use one of those or https",
      );
    }
    if (authorizationToken === undefined) {
      return invalid(
        "authorizationToken",
        "credentialsFullUri needs an authorizationToken, so that only this container can fetch the credentials",
      );
    }
    if (
      typeof authorizationToken !== "string" ||
      authorizationToken.length > MAX_TOKEN_LENGTH ||
      !HEADER_VALUE.test(authorizationToken) ||
      authorizationToken.trim() !== authorizationToken
    ) {
      return invalid(
        "authorizationToken",
        `authorizationToken must be 1-${MAX_TOKEN_LENGTH} characters usable in an HTTP header ` +
          "(no control characters such as CR/LF, no leading or trailing spaces)",
      );
    }
    env.AWS_CONTAINER_CREDENTIALS_FULL_URI = full.value.href;
    env.AWS_CONTAINER_AUTHORIZATION_TOKEN = authorizationToken;
    return ok(env);
  }
  if (authorizationToken !== undefined) {
    return invalid(
      "authorizationToken",
      "authorizationToken was given without credentialsFullUri; pass both or neither",
    );
  }
  return ok(env);
}
