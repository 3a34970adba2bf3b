import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import createDebug from "debug";
import { errAsync, ResultAsync } from "neverthrow";
import { Agent, type Dispatcher, request } from "undici";
import { type AuthChallenge, parseRetryAfter, parseWwwAuthenticate, TokenCache } from "./auth.js";
import type { CredentialsProvider, RegistryCredentials } from "./credentials.js";
import { ImageError } from "./errors.js";
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from "./manifest.js";
import { type ImageReference, isDigest } from "./reference.js";
import { type BodySink, headerValue, SocketBody, socketGet, UnsupportedFraming } from "./socket-http.js";

const debug = createDebug("berth:image:registry");
const debugAuth = createDebug("berth:image:auth");

/** One place to fetch from: a registry host (with optional port) and whether it speaks plain HTTP. */
export interface RegistryEndpoint {
  /** `host[:port]`, e.g. `mirror.example.com` or `127.0.0.1:5000`. */
  readonly host: string;
  /** Use `http://` instead of `https://`. Only ever set this for registries you trust on a trusted network. */
  readonly plainHttp?: boolean;
}

/** Per-registry settings, keyed by the registry name of references (e.g. `docker.io`, `127.0.0.1:5000`). */
export interface RegistryHostConfig {
  /** Talk plain HTTP to this registry (`--plain-http`). Default false: HTTPS. */
  readonly plainHttp?: boolean;
  /** Mirrors tried in order before the registry itself; any failure but an abort falls through to the next. */
  readonly mirrors?: readonly RegistryEndpoint[];
}

/** Retry policy for 408, 429, 5xx and connection failures. */
export interface RetryOptions {
  /** Total tries per request, including the first. Default 5. */
  readonly attempts?: number;
  /** First backoff delay; doubles per retry with jitter. Default 200 ms. */
  readonly baseDelayMs?: number;
  /** Cap on one backoff delay. Default 10 s. */
  readonly maxDelayMs?: number;
  /** Longest `Retry-After` honored; a longer one fails with `TooManyRequests` at once. Default 60 s. */
  readonly maxRetryAfterMs?: number;
}

/** Options of {@link createRegistryClient}. */
export interface RegistryClientOptions {
  /** Where credentials come from; default anonymous. */
  readonly credentials?: CredentialsProvider;
  /** Per-registry plain HTTP and mirrors. */
  readonly registries?: Readonly<Record<string, RegistryHostConfig>>;
  readonly retry?: RetryOptions;
  /** Connections per host (default 8). */
  readonly connectionsPerHost?: number;
  /** `User-Agent` header. */
  readonly userAgent?: string;
  /**
   * An undici dispatcher to use instead of the client's own Agent (the client then does not close it). All requests
   * then go through it: plain-HTTP blobs too (see {@link RegistryClientOptions.socketBlobs}).
   */
  readonly dispatcher?: Dispatcher;
  /**
   * Read plain-HTTP blob downloads straight off a socket of their own (one `Connection: close` GET per blob, its body
   * handed to a synchronous sink read by read) instead of through undici's body stream; on a 2-core machine that
   * halves the CPU a pull spends per byte. HTTPS always goes through undici. Default true unless `dispatcher` is set.
   */
  readonly socketBlobs?: boolean;
}

/** What a tag or digest resolved to. */
export interface ResolvedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** The manifest bytes when resolving had to GET them (HEAD unsupported or without a digest). */
  readonly bytes?: Uint8Array;
}

/** Manifest bytes fetched and verified against their digest. */
export interface FetchedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Uint8Array;
}

/** An open blob download. */
export interface BlobResponse {
  /** The offset the body starts at: the requested offset when the registry honored `Range`, else 0. */
  readonly offset: number;
  /** The body; iterate it to read, or call {@link BlobResponse.cancel} to drop it. */
  readonly body: AsyncIterable<Uint8Array>;
  /** Stops the download and releases the connection. */
  cancel(): void;
  /**
   * Present when the body comes straight off a plain-HTTP socket (see {@link RegistryClientOptions.socketBlobs}):
   * hands every read to `sink` synchronously, with no copy (the bytes are valid only during the call; return a
   * promise to pause reading, throw to stop). Resolves once the whole body went in. Use it or {@link body}, not both.
   */
  readonly pipeTo?: (sink: BodySink) => Promise<void>;
}

/** Options of a blob download. */
export interface OpenBlobOptions {
  /** Start at this byte (`Range: bytes=N-`). */
  readonly offset?: number;
  /** Alternative URLs to try first (foreign layers). */
  readonly urls?: readonly string[];
  readonly signal?: AbortSignal;
}

/** A distribution v2 registry client: resolve, manifests, blobs; auth, retries, redirects and mirrors inside. */
export interface RegistryClient {
  /** Resolves a reference's tag or digest to a manifest descriptor (HEAD with the four Accept types, GET fallback). */
  resolve(ref: ImageReference, signal?: AbortSignal): ResultAsync<ResolvedManifest, ImageError>;
  /** Fetches a manifest or index by digest (or tag), verifying the bytes against the digest and the size limit. */
  fetchManifest(
    ref: ImageReference,
    digestOrTag: string,
    signal?: AbortSignal,
  ): ResultAsync<FetchedManifest, ImageError>;
  /** Opens a blob download, following redirects (the `Authorization` header never leaves the registry's host). */
  openBlob(ref: ImageReference, digest: string, options?: OpenBlobOptions): ResultAsync<BlobResponse, ImageError>;
  /** Closes the connections. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface Endpoint {
  readonly host: string;
  readonly base: string;
  /** The name the credentials provider is asked about. */
  readonly credentialsFor: string;
}

type Headers = Record<string, string>;

interface SendOptions {
  readonly method: "GET" | "HEAD";
  readonly url: string;
  readonly headers: Headers;
  readonly repository: string;
  readonly reference: string;
  readonly signal: AbortSignal | undefined;
  readonly what: string;
  /** Whether to send registry auth (false for foreign URLs). */
  readonly auth: boolean;
  /** Error code on 404 is NotFound with this noun. */
  readonly digest?: string;
  /** A blob GET whose body may come off a socket of its own ({@link RegistryClientOptions.socketBlobs}). */
  readonly socket?: boolean;
}

/** A response from {@link Client.#send}: undici's, or one read by {@link socketGet} (its body a {@link SocketBody}). */
interface SentResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: AsyncIterable<Uint8Array> & {
    dump(): Promise<unknown>;
    text(): Promise<string>;
    destroy(): unknown;
  };
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

function abortedError(what: string, reference: string, cause?: unknown): ImageError {
  return new ImageError("Aborted", `${what} was aborted`, { reference, cause });
}

function registryErrorDetail(body: string): string {
  try {
    const parsed = JSON.parse(body) as { errors?: Array<{ code?: string; message?: string }> };
    const first = parsed.errors?.[0];
    if (first) return `${first.code ?? ""}${first.message ? `: ${first.message}` : ""}`;
  } catch {
    // not JSON
  }
  return body.slice(0, 200);
}

class Client implements RegistryClient {
  readonly #options: RegistryClientOptions;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #tokens = new TokenCache();
  readonly #challenges = new Map<string, AuthChallenge>();
  readonly #credentials = new Map<string, Promise<RegistryCredentials | undefined>>();
  readonly #retry: Required<RetryOptions>;
  readonly #socketBlobs: boolean;
  /** Hosts that answered a socket GET with a chunked blob: their blobs go through undici. */
  readonly #chunkedHosts = new Set<string>();

  constructor(options: RegistryClientOptions) {
    this.#options = options;
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({ connections: options.connectionsPerHost ?? 8, keepAliveTimeout: 30_000, pipelining: 1 });
    this.#socketBlobs = options.socketBlobs ?? options.dispatcher === undefined;
    this.#retry = {
      attempts: options.retry?.attempts ?? 5,
      baseDelayMs: options.retry?.baseDelayMs ?? 200,
      maxDelayMs: options.retry?.maxDelayMs ?? 10_000,
      maxRetryAfterMs: options.retry?.maxRetryAfterMs ?? 60_000,
    };
  }

  #endpoints(ref: ImageReference): Endpoint[] {
    const config = this.#options.registries?.[ref.registry] ?? this.#options.registries?.[ref.apiHost()];
    const origin = ref.apiHost();
    const out: Endpoint[] = (config?.mirrors ?? []).map((m) => ({
      host: m.host,
      base: `${m.plainHttp ? "http" : "https"}://${m.host}`,
      credentialsFor: m.host,
    }));
    out.push({
      host: origin,
      base: `${config?.plainHttp ? "http" : "https"}://${origin}`,
      credentialsFor: ref.registry,
    });
    return out;
  }

  /** Runs `fn` against each endpoint (mirrors first) until one succeeds; aborts and digest mismatches stop at once. */
  #withEndpoints<T>(ref: ImageReference, fn: (ep: Endpoint) => ResultAsync<T, ImageError>): ResultAsync<T, ImageError> {
    const endpoints = this.#endpoints(ref);
    const attempt = (i: number): ResultAsync<T, ImageError> => {
      const ep = endpoints[i];
      if (!ep) return errAsync(new ImageError("Network", "no registry endpoint", { reference: ref.toString() }));
      return fn(ep).orElse((e) => {
        if (i + 1 >= endpoints.length || e.code === "Aborted") return errAsync(e);
        debug("%s failed on mirror %s (%s); trying %s", ref.toString(), ep.host, e.message, endpoints[i + 1]?.host);
        return attempt(i + 1);
      });
    };
    return attempt(0);
  }

  #credentialsFor(name: string): Promise<RegistryCredentials | undefined> {
    let cached = this.#credentials.get(name);
    if (!cached) {
      const provider = this.#options.credentials;
      cached = provider
        ? provider(name).match(
            (c) => c,
            (e) => {
              throw e;
            },
          )
        : Promise.resolve(undefined);
      this.#credentials.set(name, cached);
      cached.catch(() => this.#credentials.delete(name));
    }
    return cached;
  }

  async #fetchToken(
    ep: Endpoint,
    challenge: AuthChallenge,
    scope: string,
    creds: RegistryCredentials | undefined,
    signal: AbortSignal | undefined,
    reference: string,
  ): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) {
      throw new ImageError("Unauthorized", `registry ${ep.host} sent a Bearer challenge without a realm`, {
        reference,
      });
    }
    const service = challenge.params.service;
    const key = TokenCache.key(realm, service, scope);
    const cached = this.#tokens.get(key);
    if (cached) return cached;
    const readToken = async (res: Dispatcher.ResponseData): Promise<string> => {
      const body = (await res.body.json()) as {
        token?: string;
        access_token?: string;
        expires_in?: number;
        issued_at?: string;
      };
      const token = body.token ?? body.access_token;
      if (!token) throw new ImageError("Unauthorized", `token server ${realm} returned no token`, { reference });
      this.#tokens.set(key, token, body.expires_in, body.issued_at);
      return token;
    };
    const fail = async (res: Dispatcher.ResponseData, how: string): Promise<never> => {
      const text = await res.body.text().catch(() => "");
      const code = res.statusCode === 403 ? "Denied" : res.statusCode === 429 ? "TooManyRequests" : "Unauthorized";
      throw new ImageError(
        code,
        `token server ${realm} refused ${how} for ${scope} (HTTP ${res.statusCode}${text ? `: ${registryErrorDetail(text)}` : ""}); ` +
          "check the credentials for this registry",
        { reference, status: res.statusCode },
      );
    };
    const params = new URLSearchParams();
    if (service) params.set("service", service);
    params.set("scope", scope);
    // OAuth2 POST first when we have credentials: refresh token or password grant.
    if (creds) {
      const form = new URLSearchParams(params);
      form.set("client_id", "berth");
      if ("identityToken" in creds) {
        form.set("grant_type", "refresh_token");
        form.set("refresh_token", creds.identityToken);
      } else {
        form.set("grant_type", "password");
        form.set("username", creds.username);
        form.set("password", creds.password);
      }
      debugAuth("POST token %s scope=%s", realm, scope);
      const res = await request(realm, {
        method: "POST",
        dispatcher: this.#dispatcher,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        ...(signal ? { signal } : {}),
      });
      if (res.statusCode === 200) return readToken(res);
      const fallback =
        !("identityToken" in creds) && [400, 401, 404, 405].includes(res.statusCode) ? true : res.statusCode === 404;
      if (!fallback) return fail(res, "the OAuth2 token request");
      await res.body.dump();
      debugAuth("POST token %s -> %d; falling back to GET", realm, res.statusCode);
    }
    const headers: Headers = {};
    if (creds && !("identityToken" in creds)) {
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
    }
    const url = `${realm}${realm.includes("?") ? "&" : "?"}${params.toString()}`;
    debugAuth("GET token %s scope=%s%s", realm, scope, creds ? " (with credentials)" : " (anonymous)");
    const res = await request(url, {
      method: "GET",
      dispatcher: this.#dispatcher,
      headers,
      ...(signal ? { signal } : {}),
    });
    if (res.statusCode === 200) return readToken(res);
    return fail(res, creds ? "the credentials" : "an anonymous token");
  }

  async #authorization(
    ep: Endpoint,
    repository: string,
    signal: AbortSignal | undefined,
    reference: string,
  ): Promise<string | undefined> {
    const challenge = this.#challenges.get(ep.host);
    if (!challenge) return undefined;
    const creds = await this.#credentialsFor(ep.credentialsFor);
    if (challenge.scheme === "basic") {
      if (!creds || "identityToken" in creds) {
        throw new ImageError(
          "Unauthorized",
          `registry ${ep.host} requires Basic credentials and none are configured: log in (docker config.json) or pass credentials`,
          { reference, status: 401 },
        );
      }
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
    }
    const scope = challenge.params.scope ?? `repository:${repository}:pull`;
    const token = await this.#fetchToken(ep, challenge, scope, creds, signal, reference);
    return `Bearer ${token}`;
  }

  #forgetToken(ep: Endpoint, repository: string): void {
    const challenge = this.#challenges.get(ep.host);
    if (challenge?.scheme === "bearer" && challenge.params.realm) {
      this.#tokens.delete(
        TokenCache.key(
          challenge.params.realm,
          challenge.params.service,
          challenge.params.scope ?? `repository:${repository}:pull`,
        ),
      );
    }
  }

  #backoff(attempt: number): number {
    const exp = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** attempt);
    return exp / 2 + Math.random() * (exp / 2);
  }

  /**
   * Sends one request with auth, retries and redirects; resolves with a 2xx (or 206) response whose body the caller
   * must consume, or rejects with an ImageError.
   */
  async #send(ep: Endpoint | undefined, o: SendOptions): Promise<SentResponse> {
    let url = o.url;
    let sameHost = true;
    let authRetried = false;
    let redirects = 0;
    const origin = ep ? new URL(ep.base).host : undefined;
    for (let attempt = 0; ; ) {
      if (o.signal?.aborted) throw abortedError(o.what, o.reference, o.signal.reason);
      const headers: Headers = { ...o.headers };
      if (this.#options.userAgent) headers["user-agent"] = this.#options.userAgent;
      if (ep && o.auth && sameHost) {
        const a = await this.#authorization(ep, o.repository, o.signal, o.reference);
        if (a) headers.authorization = a;
      }
      let res: SentResponse;
      try {
        res = await this.#request(url, headers, o);
      } catch (cause) {
        if (o.signal?.aborted) throw abortedError(o.what, o.reference, cause);
        attempt++;
        const code = (cause as { code?: string }).code ?? "";
        // TLS failures (e.g. HTTPS spoken to a plain-HTTP registry) do not heal by retrying.
        const permanent = code === "EPROTO" || code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS");
        if (attempt >= this.#retry.attempts || permanent) {
          throw new ImageError(
            "Network",
            `${o.what} failed after ${attempt} attempts: ${(cause as Error).message}${code ? ` (${code})` : ""}; ` +
              "check that the registry is reachable (and whether it needs --plain-http)",
            { reference: o.reference, cause },
          );
        }
        const delay = this.#backoff(attempt - 1);
        debug("%s: %s; retry %d in %dms", o.what, code || (cause as Error).message, attempt, Math.round(delay));
        await this.#sleep(delay, o);
        continue;
      }
      const status = res.statusCode;
      if (status >= 200 && status < 300) return res;
      if (status >= 300 && status < 400 && status !== 304) {
        const location = headerValue(res.headers, "location");
        await res.body.dump();
        if (!location || ++redirects > 10) {
          throw new ImageError("Network", `${o.what}: redirect without a usable Location (HTTP ${status})`, {
            reference: o.reference,
            status,
          });
        }
        url = new URL(location, url).toString();
        sameHost = new URL(url).host === origin;
        debug("%s: redirect to %s%s", o.what, new URL(url).host, sameHost ? "" : " (dropping Authorization)");
        continue;
      }
      const text = o.method === "HEAD" ? "" : await res.body.text().catch(() => "");
      if (o.method === "HEAD") await res.body.dump().catch(() => undefined);
      const detail = text ? `: ${registryErrorDetail(text)}` : "";
      if (status === 401 && ep && o.auth && sameHost && !authRetried) {
        authRetried = true;
        const header = headerValue(res.headers, "www-authenticate");
        const challenges = header ? parseWwwAuthenticate(header) : [];
        const chosen = challenges.find((c) => c.scheme === "bearer") ?? challenges[0];
        if (!chosen) {
          throw new ImageError("Unauthorized", `${o.what}: HTTP 401 without a usable WWW-Authenticate challenge`, {
            reference: o.reference,
            status,
          });
        }
        this.#forgetToken(ep, o.repository);
        this.#challenges.set(ep.host, chosen);
        debugAuth("%s: %s challenge from %s", o.what, chosen.scheme, ep.host);
        continue;
      }
      if (status === 401) {
        if (ep) this.#forgetToken(ep, o.repository);
        throw new ImageError(
          "Unauthorized",
          `${o.what}: the registry rejected the credentials (HTTP 401${detail}); log in or fix the credentials`,
          { reference: o.reference, status },
        );
      }
      if (status === 403) {
        throw new ImageError(
          "Denied",
          `${o.what}: access denied (HTTP 403${detail}); the credentials do not grant pull access to ${o.repository}`,
          { reference: o.reference, status },
        );
      }
      if (status === 404) {
        throw new ImageError(
          "NotFound",
          `${o.what}: not found (HTTP 404${detail}); check the repository, tag or digest`,
          {
            reference: o.reference,
            status,
            ...(o.digest ? { digest: o.digest } : {}),
          },
        );
      }
      if (RETRYABLE_STATUS.has(status)) {
        attempt++;
        const retryAfter = parseRetryAfter(headerValue(res.headers, "retry-after"));
        const code = status === 429 ? "TooManyRequests" : "Network";
        if (attempt >= this.#retry.attempts || (retryAfter !== undefined && retryAfter > this.#retry.maxRetryAfterMs)) {
          throw new ImageError(
            code,
            `${o.what}: HTTP ${status}${detail} after ${attempt} attempt${attempt === 1 ? "" : "s"}; ` +
              (status === 429
                ? "the registry is rate-limiting: wait and retry"
                : "the registry is failing: retry later"),
            { reference: o.reference, status },
          );
        }
        const delay = retryAfter ?? this.#backoff(attempt - 1);
        debug(
          "%s: HTTP %d; retry %d in %dms%s",
          o.what,
          status,
          attempt,
          Math.round(delay),
          retryAfter !== undefined ? " (Retry-After)" : "",
        );
        await this.#sleep(delay, o);
        continue;
      }
      throw new ImageError(
        status === 415 || status === 406 ? "UnsupportedMediaType" : "Network",
        `${o.what}: unexpected HTTP ${status}${detail}`,
        { reference: o.reference, status },
      );
    }
  }

  /** One request: a blob GET to a plain-HTTP URL on a socket of its own when allowed, anything else through undici. */
  async #request(url: string, headers: Headers, o: SendOptions): Promise<SentResponse> {
    if (o.socket && this.#socketBlobs && o.method === "GET" && url.startsWith("http://")) {
      const parsed = new URL(url);
      if (!this.#chunkedHosts.has(parsed.host)) {
        try {
          return await socketGet(parsed, { headers, signal: o.signal });
        } catch (e) {
          if (!(e instanceof UnsupportedFraming)) throw e;
          debug("%s: %s; its blobs go through undici from now on", o.what, e.message);
          this.#chunkedHosts.add(parsed.host);
        }
      }
    }
    return request(url, {
      method: o.method,
      headers,
      dispatcher: this.#dispatcher,
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }

  async #sleep(ms: number, o: SendOptions): Promise<void> {
    try {
      await sleep(ms, undefined, o.signal ? { signal: o.signal } : undefined);
    } catch (cause) {
      throw abortedError(o.what, o.reference, cause);
    }
  }

  #wrap<T>(promise: Promise<T>, reference: string, what: string): ResultAsync<T, ImageError> {
    return ResultAsync.fromPromise(promise, (e) =>
      ImageError.is(e)
        ? e
        : new ImageError("Network", `${what}: ${(e as Error)?.message ?? String(e)}`, { reference, cause: e }),
    );
  }

  resolve(ref: ImageReference, signal?: AbortSignal): ResultAsync<ResolvedManifest, ImageError> {
    const reference = ref.toString();
    const tagOrDigest = ref.manifestRef();
    return this.#withEndpoints(ref, (ep) =>
      this.#wrap(
        (async (): Promise<ResolvedManifest> => {
          const url = `${ep.base}/v2/${ref.repository}/manifests/${tagOrDigest}`;
          const headers = { accept: MANIFEST_ACCEPT.join(", ") };
          let res: SentResponse | undefined;
          try {
            res = await this.#send(ep, {
              method: "HEAD",
              url,
              headers,
              repository: ref.repository,
              reference,
              signal,
              what: `HEAD ${ep.host}/${ref.repository}:${tagOrDigest}`,
              auth: true,
            });
          } catch (e) {
            // Some registries do not implement HEAD (405) or answer it oddly (400, other 4xx): only then is GET
            // worth a try. Auth, not-found, rate limits, 5xx and connection failures would fail the GET the same way.
            if (
              !ImageError.is(e) ||
              e.status === undefined ||
              e.status >= 500 ||
              [401, 403, 404, 408, 429].includes(e.status)
            ) {
              throw e;
            }
            debug("HEAD %s failed (%s); falling back to GET", url, (e as Error).message);
          }
          if (res) {
            await res.body.dump();
            const digest = headerValue(res.headers, "docker-content-digest");
            const mediaType = headerValue(res.headers, "content-type")?.split(";")[0]?.trim();
            const size = Number(headerValue(res.headers, "content-length"));
            if (digest && isDigest(digest) && mediaType && Number.isSafeInteger(size) && size > 0) {
              if (isDigest(tagOrDigest) && digest !== tagOrDigest) {
                throw new ImageError(
                  "DigestMismatch",
                  `registry ${ep.host} answered ${digest} for ${tagOrDigest}; it is serving the wrong content`,
                  { reference, digest: tagOrDigest },
                );
              }
              if (size > MAX_MANIFEST_BYTES) {
                throw new ImageError("InvalidManifest", `manifest ${digest} is ${size} bytes, above the limit`, {
                  reference,
                });
              }
              debug("resolved %s -> %s (%s) by HEAD", reference, digest, mediaType);
              return { digest, mediaType, size };
            }
            debug("HEAD %s gave no usable Docker-Content-Digest; falling back to GET", url);
          }
          const fetched = await this.#getManifest(ep, ref, tagOrDigest, signal);
          debug("resolved %s -> %s (%s) by GET", reference, fetched.digest, fetched.mediaType);
          return { ...fetched, size: fetched.bytes.byteLength };
        })(),
        reference,
        `resolving ${reference}`,
      ),
    );
  }

  async #getManifest(
    ep: Endpoint,
    ref: ImageReference,
    tagOrDigest: string,
    signal: AbortSignal | undefined,
  ): Promise<FetchedManifest> {
    const reference = ref.toString();
    const url = `${ep.base}/v2/${ref.repository}/manifests/${tagOrDigest}`;
    const res = await this.#send(ep, {
      method: "GET",
      url,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      repository: ref.repository,
      reference,
      signal,
      what: `GET ${ep.host}/${ref.repository} manifest ${tagOrDigest}`,
      auth: true,
      ...(isDigest(tagOrDigest) ? { digest: tagOrDigest } : {}),
    });
    const length = Number(headerValue(res.headers, "content-length"));
    if (Number.isFinite(length) && length > MAX_MANIFEST_BYTES) {
      res.body.destroy();
      throw new ImageError(
        "InvalidManifest",
        `manifest ${tagOrDigest} is ${length} bytes, above the ${MAX_MANIFEST_BYTES}-byte limit`,
        { reference },
      );
    }
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        total += chunk.byteLength;
        if (total > MAX_MANIFEST_BYTES) {
          res.body.destroy();
          throw new ImageError(
            "InvalidManifest",
            `manifest ${tagOrDigest} is larger than the ${MAX_MANIFEST_BYTES}-byte limit`,
            { reference },
          );
        }
        chunks.push(chunk);
      }
    } catch (e) {
      if (ImageError.is(e)) throw e;
      if (signal?.aborted) throw abortedError(`reading manifest ${tagOrDigest}`, reference, e);
      throw new ImageError("Network", `reading manifest ${tagOrDigest} failed: ${(e as Error).message}`, {
        reference,
        cause: e,
      });
    }
    const bytes = Buffer.concat(chunks);
    const algorithm = isDigest(tagOrDigest) ? (tagOrDigest.split(":")[0] ?? "sha256") : "sha256";
    const computed = `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
    const header = headerValue(res.headers, "docker-content-digest");
    const expected = isDigest(tagOrDigest) ? tagOrDigest : header && isDigest(header) ? header : undefined;
    if (expected?.startsWith(`${algorithm}:`) && expected !== computed) {
      throw new ImageError(
        "DigestMismatch",
        `manifest from ${ep.host} hashes to ${computed}, not ${expected}; the registry or a proxy altered it`,
        { reference, digest: expected },
      );
    }
    const mediaType = headerValue(res.headers, "content-type")?.split(";")[0]?.trim() ?? "";
    let declared: string | undefined;
    try {
      declared = (JSON.parse(bytes.toString("utf8")) as { mediaType?: string }).mediaType;
    } catch {
      // parseManifest reports malformed JSON
    }
    return { digest: expected ?? computed, mediaType: declared ?? mediaType, bytes };
  }

  fetchManifest(
    ref: ImageReference,
    digestOrTag: string,
    signal?: AbortSignal,
  ): ResultAsync<FetchedManifest, ImageError> {
    const reference = ref.toString();
    return this.#withEndpoints(ref, (ep) =>
      this.#wrap(this.#getManifest(ep, ref, digestOrTag, signal), reference, `fetching manifest ${digestOrTag}`),
    );
  }

  openBlob(ref: ImageReference, digest: string, options: OpenBlobOptions = {}): ResultAsync<BlobResponse, ImageError> {
    const reference = ref.toString();
    const offset = options.offset ?? 0;
    const headers: Headers = { "accept-encoding": "identity" };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const toBlob = (res: SentResponse): BlobResponse => {
      const honored = offset > 0 && res.statusCode === 206;
      const body = res.body;
      return {
        offset: honored ? offset : 0,
        body,
        cancel: () => body.destroy(),
        ...(body instanceof SocketBody ? { pipeTo: (sink: BodySink) => body.pipeTo(sink) } : {}),
      };
    };
    const fromRegistry = () =>
      this.#withEndpoints(ref, (ep) =>
        this.#wrap(
          this.#send(ep, {
            method: "GET",
            url: `${ep.base}/v2/${ref.repository}/blobs/${digest}`,
            headers,
            repository: ref.repository,
            reference,
            signal: options.signal,
            what: `GET ${ep.host}/${ref.repository} blob ${digest}`,
            auth: true,
            digest,
            socket: true,
          }).then(toBlob),
          reference,
          `fetching blob ${digest}`,
        ),
      );
    const urls = (options.urls ?? []).filter((u) => u.startsWith("https://") || u.startsWith("http://"));
    if (urls.length === 0) return fromRegistry();
    const tryUrl = (i: number): ResultAsync<BlobResponse, ImageError> => {
      const url = urls[i];
      if (url === undefined) return fromRegistry();
      return this.#wrap(
        this.#send(undefined, {
          method: "GET",
          url,
          headers,
          repository: ref.repository,
          reference,
          signal: options.signal,
          what: `GET ${new URL(url).host} foreign blob ${digest}`,
          auth: false,
          digest,
          socket: true,
        }).then(toBlob),
        reference,
        `fetching blob ${digest}`,
      ).orElse((e) => (e.code === "Aborted" ? errAsync(e) : tryUrl(i + 1)));
    };
    return tryUrl(0);
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Creates a registry client. Close it (or `await using` it) to release its connections. */
export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  return new Client(options);
}
