import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import createDebug from "debug";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import type { DockerStats } from "./docker-stats.js";
import { MetadataError } from "./errors.js";
import type { CredentialsEntry, CredentialsProvider, EndpointEntry, MetadataProvider } from "./registry.js";
import type { StatsProvider } from "./stats-provider.js";
import { AddressThrottle, DEFAULT_THROTTLE, type ThrottleOptions } from "./throttle.js";
import { formatTimestamp } from "./timestamp.js";
import { containerResponseV3, taskResponseV3 } from "./v3-json.js";
import { containerResponseV4, taskResponseV4 } from "./v4-json.js";
import type { TaskState } from "./v4-types.js";

const log = createDebug("berth:metadata");
const logHttp = createDebug("berth:metadata:http");

/** Options of {@link startMetadataServer}. */
export interface MetadataServerOptions {
  /** Where task and container metadata come from (e.g. `createTaskRegistry()`). */
  readonly provider: MetadataProvider;
  /** Serves `/v2/credentials/<id>` when given; without it that path answers 404 like any unknown path. */
  readonly credentials?: CredentialsProvider;
  /** Serves `/stats` and `/task/stats` when given; without it they answer 500 as a failed stats lookup. */
  readonly stats?: StatsProvider;
  /**
   * The one address to listen on (default `127.0.0.1`). The server binds nothing else; give
   * `169.254.170.2` once the agent has put that address on an interface tasks can reach.
   */
  readonly host?: string;
  /** The TCP port (default 0: an ephemeral port, see {@link MetadataServer.port}). The ECS agent uses 51679. */
  readonly port?: number;
  /** Per-source-address throttle (default steady 40/s, burst 60, as ECS); `false` turns it off. */
  readonly throttle?: ThrottleOptions | false;
  /** How long a client may take to send its request head and body, in ms (default 5000, as ECS). */
  readonly readTimeoutMs?: number;
  /** How long a connection may stall while the response is written, in ms (default 5000, as ECS). */
  readonly writeTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this many ms (default 5000). */
  readonly keepAliveTimeoutMs?: number;
  /** Largest request line plus headers in bytes (default 8192); larger requests get 431. */
  readonly maxHeaderBytes?: number;
  /** Largest request body in bytes (default 1024; metadata requests have none); larger get 413. */
  readonly maxBodyBytes?: number;
  /** Most simultaneous connections (default 1024); further ones are refused. */
  readonly maxConnections?: number;
  /**
   * Pending-connection queue length (default 2048, capped by the kernel's `net.core.somaxconn`):
   * a burst of connections beyond it waits on SYN retries, which would delay every client.
   */
  readonly backlog?: number;
  /** Deadline for one stats provider call in ms (default 4000). */
  readonly statsTimeoutMs?: number;
  /** How long `close()` waits for in-flight requests before cutting connections, in ms (default 2000). */
  readonly closeGraceMs?: number;
}

/** A running metadata server. `await using server = ...` closes it at the end of the scope. */
export interface MetadataServer extends AsyncDisposable {
  /** The address it listens on. */
  readonly host: string;
  /** The port it listens on (the real one when 0 was asked for). */
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to `closeGraceMs`), then
   * closes every connection. Idempotent.
   */
  close(): ResultAsync<void, MetadataError>;
}

type Version = "v3" | "v4";
type Route =
  | {
      readonly kind: "container" | "task" | "taskWithTags" | "stats" | "taskStats";
      readonly version: Version;
      readonly id: string;
    }
  | { readonly kind: "credentials"; readonly id: string };

/** The serialized bodies of one task snapshot: `task` slots are v4, v4 with tags, v3, v3 with tags. */
interface TaskBodies {
  readonly task: [Buffer | undefined, Buffer | undefined, Buffer | undefined, Buffer | undefined];
  readonly containers: Map<string, Buffer>;
}

const JSON_TYPE = "application/json";
const TEXT_TYPE = "text/plain; charset=utf-8";
const THROTTLED_BODY = Buffer.from("You have reached maximum request limit.");
const NOT_FOUND_BODY = Buffer.from("404 page not found\n");
const DOT = 0x2e;

/**
 * Parses a decoded, clean path into a route, or undefined (404). `/v2/credentials/<id>` takes the
 * rest of the path as the id; `/v3|v4/<id>` is followed by nothing, `task`, `taskWithTags`,
 * `stats` or `task/stats`. Written with `startsWith`/`indexOf` rather than `split`: it runs on
 * every request.
 */
function route(path: string): Route | undefined {
  let version: Version;
  if (path.startsWith("/v4/")) version = "v4";
  else if (path.startsWith("/v3/")) version = "v3";
  else if (path.startsWith("/v2/credentials/")) return { kind: "credentials", id: path.slice(16) };
  else return undefined;
  const slash = path.indexOf("/", 4);
  if (slash < 0) return { kind: "container", version, id: path.slice(4) };
  // The tail is matched by its length and `endsWith` rather than sliced off and switched on.
  const rest = path.length - slash - 1;
  if (rest === 4 && path.endsWith("/task")) return { kind: "task", version, id: path.slice(4, slash) };
  if (rest === 12 && path.endsWith("/taskWithTags")) return { kind: "taskWithTags", version, id: path.slice(4, slash) };
  if (rest === 5 && path.endsWith("/stats")) return { kind: "stats", version, id: path.slice(4, slash) };
  if (rest === 10 && path.endsWith("/task/stats")) return { kind: "taskStats", version, id: path.slice(4, slash) };
  return undefined;
}

/** Go's path.Clean, keeping a trailing slash (as gorilla/mux's cleanPath does). */
function cleanPath(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  let cleaned = `/${out.join("/")}`;
  if (path.endsWith("/") && cleaned !== "/") cleaned += "/";
  return cleaned;
}

function needsCleaning(path: string): boolean {
  // Every case below contains "//" or "/.": most paths have neither and are done after two scans.
  if (!path.includes("/.") && !path.includes("//")) return false;
  return path.includes("//") || path.includes("/./") || path.includes("/../") || /\/\.\.?$/.test(path);
}

// The ECS agent's error bodies (JSON-encoded strings). v4 answers 404 for an unknown endpoint id;
// v3 keeps its older 400.
function lookupFailure(kind: Route["kind"], version: Version, id: string): string {
  const V = version.toUpperCase();
  const taskArn = `unable to get task arn from request: unable to get task Arn from v3 endpoint ID: ${id}`;
  switch (kind) {
    case "container":
      return `${V} container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: ${id}`;
    case "task":
    case "taskWithTags":
      return `${V} task metadata handler: ${taskArn}`;
    case "stats":
      return `${V} container stats handler: ${taskArn}`;
    default:
      return `${V} task stats handler: ${taskArn}`;
  }
}

function genericFailure(kind: Route["kind"]): string {
  if (kind === "container") return "failed to get container metadata";
  if (kind === "task" || kind === "taskWithTags") return "failed to get task metadata";
  return "failed to get stats";
}

function credentialsError(code: string, message: string, status: number): Buffer {
  return Buffer.from(JSON.stringify({ code, message: `CredentialsV2Request: ${message}`, HTTPErrorCode: status }));
}

function expirationOf(value: Date | string): Result<string, MetadataError> {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return err(new MetadataError("InvalidInput", "invalid expiration"));
    return ok(value.toISOString().replace(/\.\d{3}Z$/, "Z"));
  }
  return formatTimestamp(value, "expiration");
}

/** v3 serves Docker's stats JSON as is; `network_rate_stats` is a v4 addition. */
function forVersion(stats: DockerStats | undefined, version: Version): DockerStats | undefined {
  if (stats === undefined || version === "v4" || !("network_rate_stats" in stats)) return stats;
  const { network_rate_stats: _dropped, ...rest } = stats;
  return rest;
}

function tokensEqual(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

function redact(path: string): string {
  return path.replace(
    /^\/(v[234])\/(credentials\/)?[^/]*/,
    (_m, v: string, c: string | undefined) => `/${v}/${c ?? ""}<id>`,
  );
}

/**
 * Starts the ECS-compatible task metadata server: `/v4/<id>`, `/v4/<id>/task`,
 * `/v4/<id>/taskWithTags`, `/v4/<id>/stats`, `/v4/<id>/task/stats`, the same under `/v3`, and
 * `/v2/credentials/<id>` when a credentials provider is given. Bodies, status codes and content
 * types follow the ECS agent (JSON-encoded error strings, 404 for an unknown v4 id, 429 text when
 * throttled). It binds only `host` (default `127.0.0.1`).
 *
 * Fails with `ListenFailed` when the address cannot be bound and `InvalidInput` for bad options.
 */
export function startMetadataServer(options: MetadataServerOptions): ResultAsync<MetadataServer, MetadataError> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 0;
  const readTimeoutMs = options.readTimeoutMs ?? 5000;
  const writeTimeoutMs = options.writeTimeoutMs ?? 5000;
  const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 5000;
  const maxHeaderBytes = options.maxHeaderBytes ?? 8192;
  const maxBodyBytes = options.maxBodyBytes ?? 1024;
  const statsTimeoutMs = options.statsTimeoutMs ?? 4000;
  const closeGraceMs = options.closeGraceMs ?? 2000;
  for (const [field, value] of Object.entries({
    readTimeoutMs,
    writeTimeoutMs,
    keepAliveTimeoutMs,
    maxHeaderBytes,
    statsTimeoutMs,
  })) {
    if (!Number.isInteger(value) || value <= 0) {
      return ResultAsync.fromSafePromise(Promise.resolve()).andThen(() =>
        err(new MetadataError("InvalidInput", `${field} must be a positive integer, got ${value}`, { field })),
      );
    }
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return ResultAsync.fromSafePromise(Promise.resolve()).andThen(() =>
      err(new MetadataError("InvalidInput", `port must be an integer in 0..65535, got ${port}`, { field: "port" })),
    );
  }
  const { provider, credentials: credentialsProvider, stats } = options;
  const throttle = options.throttle === false ? undefined : new AddressThrottle(options.throttle ?? DEFAULT_THROTTLE);
  const closing = new AbortController();
  // Serialized bodies per task snapshot. Providers hand out the same (frozen) object until the task
  // changes and a new snapshot replaces it, so a change is seen by the next request, and bodies of
  // replaced snapshots are collected with them. Task bodies sit in fixed slots (no key string is
  // built or hashed per request); container bodies in a map by version and runtime id.
  const cache = new WeakMap<TaskState, TaskBodies>();

  function bodiesOf(task: TaskState): TaskBodies {
    let bodies = cache.get(task);
    if (bodies === undefined) {
      bodies = { task: [undefined, undefined, undefined, undefined], containers: new Map() };
      cache.set(task, bodies);
    }
    return bodies;
  }

  function serialize(built: Result<unknown, MetadataError>): Buffer | MetadataError {
    return built.isErr() ? built.error : Buffer.from(JSON.stringify(built.value));
  }

  // One object literal per header set rather than fields added to one object per request; the
  // headers and their order are unchanged (Content-Length, Content-Type, X-Content-Type-Options).
  function send(res: ServerResponse, status: number, type: string | undefined, body: Buffer): void {
    if (res.headersSent || res.destroyed) return;
    if (type === JSON_TYPE) {
      res.writeHead(status, { "Content-Length": body.length, "Content-Type": JSON_TYPE });
    } else if (type === TEXT_TYPE) {
      res.writeHead(status, {
        "Content-Length": body.length,
        "Content-Type": TEXT_TYPE,
        "X-Content-Type-Options": "nosniff",
      });
    } else if (type === undefined) {
      res.writeHead(status, { "Content-Length": body.length });
    } else {
      res.writeHead(status, { "Content-Length": body.length, "Content-Type": type });
    }
    res.end(body);
    guardWrite(res);
  }

  // The write timeout. `server.setTimeout` would re-arm a socket timer on every request (a new
  // Timeout object each time, about 3 us per request under load), yet almost every response is
  // taken by the kernel within `res.end`. So a timer is started only when bytes are left queued on
  // the socket (the client is not reading), and it destroys the connection once a whole
  // `writeTimeoutMs` passes with no write completing, as the socket timeout did. It is a timer of
  // its own because Node resets the socket timeout for every pipelined request it parses. Reading
  // is bounded by `headersTimeout`/`requestTimeout` and idle keep-alive connections by
  // `keepAliveTimeout`, which need no per-request timer here.
  const stalled = new WeakSet<Socket>();

  function guardWrite(res: ServerResponse): void {
    // A pipelined response waits for the ones before it and is written when Node hands it the socket.
    if (res.socket === null) res.once("socket", (socket: Socket) => setImmediate(watchQueue, socket));
    else watchQueue(res.socket);
  }

  function watchQueue(socket: Socket): void {
    if (socket.writableLength === 0 || stalled.has(socket)) return;
    stalled.add(socket);
    let queued = socket.writableLength;
    let written = socket.bytesWritten;
    const check = () => {
      if (socket.destroyed || socket.writableLength === 0) {
        stalled.delete(socket);
        return;
      }
      if (socket.writableLength === queued && socket.bytesWritten === written) {
        logHttp("%s stopped reading for %d ms: closing", socket.remoteAddress, writeTimeoutMs);
        stalled.delete(socket);
        socket.destroy();
        return;
      }
      queued = socket.writableLength;
      written = socket.bytesWritten;
      setTimeout(check, writeTimeoutMs).unref();
    };
    setTimeout(check, writeTimeoutMs).unref();
  }

  function sendJsonString(res: ServerResponse, status: number, message: string): void {
    send(res, status, JSON_TYPE, Buffer.from(JSON.stringify(message)));
  }

  function lookup(id: string): Result<EndpointEntry | undefined, MetadataError> {
    try {
      return provider.lookup(id);
    } catch (cause) {
      return err(new MetadataError("ProviderFailed", "the metadata provider threw", { cause }));
    }
  }

  function serveMetadata(res: ServerResponse, r: Extract<Route, { version: Version }>, entry: EndpointEntry): void {
    const { task, container } = entry;
    const bodies = bodiesOf(task);
    if (r.kind === "container") {
      const key = `${r.version}:${container.runtimeId}`;
      let body = bodies.containers.get(key);
      if (body === undefined) {
        const built = serialize(
          r.version === "v4" ? containerResponseV4(container, task) : containerResponseV3(container, task),
        );
        if (built instanceof MetadataError) {
          log("cannot build container metadata for %s: %s", container.runtimeId, built.message);
          sendJsonString(
            res,
            500,
            r.version === "v4"
              ? `unable to generate metadata for container '${container.runtimeId}'`
              : `Unable to generate metadata for container '${container.runtimeId}'`,
          );
          return;
        }
        body = built;
        bodies.containers.set(key, body);
      }
      send(res, 200, JSON_TYPE, body);
      return;
    }
    const withTags = r.kind === "taskWithTags";
    const slot = (r.version === "v4" ? 0 : 2) + (withTags ? 1 : 0);
    let body = bodies.task[slot];
    if (body === undefined) {
      const built = serialize(
        r.version === "v4" ? taskResponseV4(task, { withTags }) : taskResponseV3(task, { withTags }),
      );
      if (built instanceof MetadataError) {
        log("cannot build task metadata for %s: %s", task.arn, built.message);
        sendJsonString(
          res,
          500,
          r.version === "v4"
            ? `Unable to generate metadata for v4 task: '${task.arn}'`
            : `Unable to generate metadata for task: '${task.arn}'`,
        );
        return;
      }
      body = built;
      bodies.task[slot] = body;
    }
    send(res, 200, JSON_TYPE, body);
  }

  function statsSignal(): AbortSignal {
    return AbortSignal.any([closing.signal, AbortSignal.timeout(statsTimeoutMs)]);
  }

  function callStats(entry: EndpointEntry, container: EndpointEntry["container"], signal: AbortSignal) {
    if (stats === undefined) {
      return ResultAsync.fromSafePromise(Promise.resolve()).andThen(() =>
        err(new MetadataError("ProviderFailed", "no stats provider is configured")),
      );
    }
    try {
      return stats.containerStats(entry.task, container, signal);
    } catch (cause) {
      return ResultAsync.fromSafePromise(Promise.resolve()).andThen(() =>
        err(new MetadataError("ProviderFailed", "the stats provider threw", { cause })),
      );
    }
  }

  async function serveStats(res: ServerResponse, r: Extract<Route, { version: Version }>, entry: EndpointEntry) {
    const signal = statsSignal();
    if (r.kind === "stats") {
      const result = await callStats(entry, entry.container, signal);
      if (result.isErr()) {
        log("stats for %s failed: %s", entry.container.runtimeId, result.error.message);
        sendJsonString(res, 500, `Unable to get container stats for: ${entry.container.runtimeId}`);
        return;
      }
      send(res, 200, JSON_TYPE, Buffer.from(JSON.stringify(forVersion(result.value, r.version) ?? {})));
      return;
    }
    const results = await Promise.all(entry.task.containers.map((c) => callStats(entry, c, signal)));
    const out: Record<string, DockerStats | null> = {};
    for (const [i, result] of results.entries()) {
      const c = entry.task.containers[i];
      if (c === undefined) continue;
      if (result.isErr()) {
        log("task stats for %s failed at %s: %s", entry.task.arn, c.runtimeId, result.error.message);
        sendJsonString(res, 500, `Unable to get task stats for: ${entry.task.arn}`);
        return;
      }
      out[c.runtimeId] = forVersion(result.value, r.version) ?? null;
    }
    send(res, 200, JSON_TYPE, Buffer.from(JSON.stringify(out)));
  }

  function serveCredentials(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    provider: CredentialsProvider,
  ): void {
    if (id === "") {
      send(res, 400, JSON_TYPE, credentialsError("NoIdInRequest", "No Credential ID in the request", 400));
      return;
    }
    let found: Result<CredentialsEntry | undefined, MetadataError>;
    try {
      found = provider.credentials(id);
    } catch (cause) {
      found = err(new MetadataError("ProviderFailed", "the credentials provider threw", { cause }));
    }
    const internal = () =>
      send(
        res,
        500,
        JSON_TYPE,
        Buffer.from(
          JSON.stringify({ code: "InternalServerError", message: "Internal server error", HTTPErrorCode: 500 }),
        ),
      );
    if (found.isErr()) {
      log("credentials provider failed: %s", found.error.message);
      internal();
      return;
    }
    const entry = found.value;
    if (entry === undefined) {
      send(res, 400, JSON_TYPE, credentialsError("InvalidIdInRequest", "Credentials not found", 400));
      return;
    }
    if (entry.authorizationToken !== undefined && !tokensEqual(req.headers.authorization, entry.authorizationToken)) {
      send(
        res,
        401,
        JSON_TYPE,
        credentialsError("InvalidAuthorizationToken", "Authorization header missing or not the container's token", 401),
      );
      return;
    }
    if (entry.status === "uninitialized") {
      send(res, 503, JSON_TYPE, credentialsError("CredentialsUninitialized", "Credentials uninitialized for ID", 503));
      return;
    }
    const c = entry.credentials;
    const expiration = expirationOf(c.expiration);
    if (expiration.isErr()) {
      internal();
      return;
    }
    send(
      res,
      200,
      JSON_TYPE,
      Buffer.from(
        JSON.stringify({
          RoleArn: c.roleArn,
          AccessKeyId: c.accessKeyId,
          SecretAccessKey: c.secretAccessKey,
          Token: c.sessionToken,
          Expiration: expiration.value,
        }),
      ),
    );
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (logHttp.enabled) {
      const started = performance.now();
      res.once("finish", () => {
        logHttp(
          "%s %s %s -> %d in %sms",
          req.socket.remoteAddress,
          req.method,
          redact((req.url ?? "").split("?")[0] ?? ""),
          res.statusCode,
          (performance.now() - started).toFixed(2),
        );
      });
    }
    // Request bodies: metadata requests have none; cap what a client may push at us.
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > maxBodyBytes) {
      res.shouldKeepAlive = false;
      send(res, 413, TEXT_TYPE, Buffer.from("413 Request Entity Too Large"));
      return;
    }
    if (req.headers["transfer-encoding"] !== undefined) {
      let received = 0;
      req.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBodyBytes) {
          res.shouldKeepAlive = false;
          send(res, 413, TEXT_TYPE, Buffer.from("413 Request Entity Too Large"));
          req.socket.destroy();
        }
      });
    }

    if (throttle !== undefined && !throttle.take(req.socket.remoteAddress ?? "")) {
      send(res, 429, TEXT_TYPE, THROTTLED_BODY);
      return;
    }

    let raw = req.url ?? "/";
    if (!raw.startsWith("/")) {
      const m = /^https?:\/\/[^/]*(\/.*)?$/i.exec(raw);
      if (m === null) {
        send(res, 400, TEXT_TYPE, Buffer.from("400 Bad Request"));
        return;
      }
      raw = m[1] ?? "/";
    }
    const q = raw.indexOf("?");
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    let path = rawPath;
    if (path.includes("%")) {
      try {
        path = decodeURIComponent(rawPath);
      } catch {
        send(res, 400, TEXT_TYPE, Buffer.from("400 Bad Request"));
        return;
      }
    }
    const r = route(path);
    // A v3/v4 route has slashes only at fixed places, each followed by a letter except the one
    // before the id: with a non-empty id that does not start with ".", the path has no "//" or
    // "/." and is clean without scanning it again.
    const routedClean = r !== undefined && r.kind !== "credentials" && r.id !== "" && r.id.charCodeAt(0) !== DOT;
    if (!routedClean && needsCleaning(path)) {
      const location = encodeURI(cleanPath(path)) + (q < 0 ? "" : raw.slice(q));
      res.writeHead(301, { Location: location, "Content-Length": 0 });
      res.end();
      guardWrite(res);
      return;
    }
    if (r === undefined || (r.kind === "credentials" && credentialsProvider === undefined)) {
      send(res, 404, TEXT_TYPE, NOT_FOUND_BODY);
      return;
    }
    if (req.method !== "GET") {
      res.writeHead(405, { "Content-Length": 0 });
      res.end();
      guardWrite(res);
      return;
    }
    if (r.kind === "credentials") {
      if (credentialsProvider !== undefined) serveCredentials(req, res, r.id, credentialsProvider);
      return;
    }
    const found = lookup(r.id);
    if (found.isErr()) {
      log("metadata provider failed: %s", found.error.message);
      sendJsonString(res, 500, genericFailure(r.kind));
      return;
    }
    const entry = found.value;
    if (entry === undefined) {
      sendJsonString(res, r.version === "v4" ? 404 : 400, lookupFailure(r.kind, r.version, r.id));
      return;
    }
    if (r.kind === "stats" || r.kind === "taskStats") {
      serveStats(res, r, entry).catch((cause: unknown) => {
        log("stats handler failed: %O", cause);
        sendJsonString(res, 500, genericFailure(r.kind));
      });
      return;
    }
    serveMetadata(res, r, entry);
  }

  const server: Server = createServer(
    {
      maxHeaderSize: maxHeaderBytes,
      headersTimeout: readTimeoutMs,
      requestTimeout: readTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(readTimeoutMs / 4))),
      noDelay: true,
    },
    (req, res) => {
      try {
        handle(req, res);
      } catch (cause) {
        log("request handler failed: %O", cause);
        send(res, 500, JSON_TYPE, Buffer.from(JSON.stringify("internal server error")));
      }
    },
  );
  server.maxHeadersCount = 100;
  server.maxConnections = options.maxConnections ?? 1024;
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || error.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const text = `${status} ${STATUS_CODES[status] ?? ""}`;
    logHttp("%s client error %s -> %d", socket.remoteAddress, error.code, status);
    socket.end(
      `HTTP/1.1 ${text}\r\nContent-Type: ${TEXT_TYPE}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
    if (socket.writableLength > 0) setTimeout(() => socket.destroy(), writeTimeoutMs).unref();
  });

  const sweeper = throttle === undefined ? undefined : setInterval(() => throttle.sweep(), 10_000).unref();

  const listening = new Promise<Result<AddressInfo, MetadataError>>((resolve) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (sweeper !== undefined) clearInterval(sweeper);
      resolve(
        err(
          new MetadataError(
            "ListenFailed",
            `cannot listen on ${host}:${port}: ${error.code ?? error.message}; ` +
              (error.code === "EADDRINUSE"
                ? "another process uses the port: pick another or stop it"
                : error.code === "EADDRNOTAVAIL"
                  ? "no interface has that address: add it (e.g. `ip addr add 169.254.170.2/32 dev lo`) or use 127.0.0.1"
                  : "check the address and the process's permissions"),
            { cause: error },
          ),
        ),
      );
    };
    server.once("error", onError);
    server.listen({ host, port, exclusive: true, backlog: options.backlog ?? 2048 }, () => {
      server.off("error", onError);
      resolve(ok(server.address() as AddressInfo));
    });
  });

  return new ResultAsync(listening).map((address) => {
    log("listening on %s:%d", address.address, address.port);
    let closed: Promise<Result<void, MetadataError>> | undefined;
    const close = (): ResultAsync<void, MetadataError> => {
      closed ??= new Promise<Result<void, MetadataError>>((resolve) => {
        if (sweeper !== undefined) clearInterval(sweeper);
        closing.abort();
        const force = setTimeout(() => server.closeAllConnections(), closeGraceMs);
        server.close(() => {
          clearTimeout(force);
          log("closed %s:%d", address.address, address.port);
          resolve(ok(undefined));
        });
        server.closeIdleConnections();
      });
      return new ResultAsync(closed);
    };
    const hostText = address.family === "IPv6" ? `[${address.address}]` : address.address;
    const running: MetadataServer = {
      host: address.address,
      port: address.port,
      url: `http://${hostText}:${address.port}`,
      close,
      async [Symbol.asyncDispose]() {
        await close();
      },
    };
    return running;
  });
}
