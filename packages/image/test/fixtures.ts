// Test fixtures for the registry integration tests: image builders, a registry API pusher, private
// docker-registry instances (htpasswd / token auth), a token issuer and a fault-injecting loopback proxy.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash, createSign, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { request } from "undici";

export const sha256 = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

export interface Blob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: Buffer;
}

export function blob(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength, bytes };
}

/** A tar layer with the given files, compressed as asked. Returns the blob and its diff id. */
export function layer(
  files: Record<string, string | Buffer>,
  compression: "gzip" | "zstd" | "none",
  format: "oci" | "docker" = "oci",
): { blob: Blob; diffId: string } {
  const dir = mkdtempSync(join(tmpdir(), "berth-layer-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const tar = execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C", dir, "-cf", "-", "."], {
    maxBuffer: 1 << 30,
  });
  execFileSync("rm", ["-rf", dir]);
  const bytes =
    compression === "gzip"
      ? gzipSync(tar)
      : compression === "zstd"
        ? execFileSync("zstd", ["-q", "-c"], { input: tar, maxBuffer: 1 << 30 })
        : tar;
  const mediaType =
    format === "docker"
      ? compression === "gzip"
        ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
        : "application/vnd.docker.image.rootfs.diff.tar"
      : `application/vnd.oci.image.layer.v1.tar${compression === "none" ? "" : `+${compression}`}`;
  return { blob: blob(mediaType, bytes), diffId: sha256(tar) };
}

export interface TestImage {
  readonly manifest: Blob;
  readonly config: Blob;
  readonly layers: readonly Blob[];
  readonly platform: { os: string; architecture: string; variant?: string };
}

export function image(
  layers: ReadonlyArray<{ blob: Blob; diffId: string }>,
  platform: { os: string; architecture: string; variant?: string },
  format: "oci" | "docker" = "oci",
): TestImage {
  const config = blob(
    format === "docker" ? "application/vnd.docker.container.image.v1+json" : "application/vnd.oci.image.config.v1+json",
    Buffer.from(
      JSON.stringify({
        ...platform,
        config: { Env: ["PATH=/bin"], Cmd: ["/bin/sh"] },
        rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      }),
    ),
  );
  const mediaType =
    format === "docker"
      ? "application/vnd.docker.distribution.manifest.v2+json"
      : "application/vnd.oci.image.manifest.v1+json";
  const desc = (b: Blob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
  const manifest = blob(
    mediaType,
    Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType, config: desc(config), layers: layers.map((l) => desc(l.blob)) }),
    ),
  );
  return { manifest, config, layers: layers.map((l) => l.blob), platform };
}

export function index(images: readonly TestImage[], format: "oci" | "docker" = "oci"): Blob {
  const mediaType =
    format === "docker"
      ? "application/vnd.docker.distribution.manifest.list.v2+json"
      : "application/vnd.oci.image.index.v1+json";
  return blob(
    mediaType,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        manifests: images.map((i) => ({
          mediaType: i.manifest.mediaType,
          digest: i.manifest.digest,
          size: i.manifest.size,
          platform: i.platform,
        })),
      }),
    ),
  );
}

async function pushBlob(host: string, repo: string, b: Blob): Promise<void> {
  const head = await request(`http://${host}/v2/${repo}/blobs/${b.digest}`, { method: "HEAD" });
  await head.body.dump();
  if (head.statusCode === 200) return;
  const start = await request(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await start.body.dump();
  if (start.statusCode !== 202) throw new Error(`upload start: HTTP ${start.statusCode}`);
  const location = new URL(String(start.headers.location), `http://${host}`);
  location.searchParams.set("digest", b.digest);
  const put = await request(location.toString(), {
    method: "PUT",
    body: b.bytes,
    headers: { "content-type": "application/octet-stream", "content-length": String(b.size) },
  });
  const text = await put.body.text();
  if (put.statusCode !== 201) throw new Error(`blob PUT: HTTP ${put.statusCode} ${text}`);
}

export async function pushManifest(host: string, repo: string, ref: string, m: Blob): Promise<void> {
  const put = await request(`http://${host}/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    body: m.bytes,
    headers: { "content-type": m.mediaType },
  });
  const text = await put.body.text();
  if (put.statusCode !== 201) throw new Error(`manifest PUT ${ref}: HTTP ${put.statusCode} ${text}`);
}

/** Pushes images (blobs, manifests), then the index (when given) or the single manifest under `tag`. */
export async function push(host: string, repo: string, tag: string, images: readonly TestImage[], idx?: Blob) {
  for (const img of images) {
    for (const b of [img.config, ...img.layers]) await pushBlob(host, repo, b);
    await pushManifest(host, repo, idx ? img.manifest.digest : tag, img.manifest);
  }
  if (idx) await pushManifest(host, repo, tag, idx);
}

export async function deleteManifest(host: string, repo: string, digest: string): Promise<void> {
  const res = await request(`http://${host}/v2/${repo}/manifests/${digest}`, { method: "DELETE" });
  await res.body.dump();
}

export interface RunningRegistry {
  readonly host: string;
  readonly log: () => string;
  stop(): Promise<void>;
}

/** Starts a private docker-registry on 127.0.0.1:0 over `storage`, with the given extra YAML (auth). */
export async function startRegistry(storage: string, authYaml = ""): Promise<RunningRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "berth-registry-"));
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n${authYaml}`,
  );
  const child: ChildProcess = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const host = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`registry did not start:\n${output}`)), 15_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = /listening on (127\.0\.0\.1:\d+)/.exec(output);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`registry exited with ${code}:\n${output}`));
    });
  });
  return {
    host,
    log: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      execFileSync("rm", ["-rf", dir]);
    },
  };
}

/** A bcrypt htpasswd line (Python's crypt with libxcrypt supports $2b$). */
export function htpasswdLine(user: string, password: string): string {
  const salt = randomBytes(16)
    .toString("base64")
    .replace(/[^A-Za-z0-9./]/g, ".")
    .slice(0, 22);
  const hash = execFileSync("python3", [
    "-W",
    "ignore",
    "-c",
    "import crypt,sys; print(crypt.crypt(sys.argv[1], '$2b$05$' + sys.argv[2]))",
    password,
    salt,
  ])
    .toString()
    .trim();
  return `${user}:${hash}`;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export interface TokenIssuer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  readonly certPath: string;
  readonly requests: Array<{ method: string; scope: string | null; grant: string | null; basic: boolean }>;
  /** When true, POST requests get 405 (exercises the GET fallback). */
  rejectPost: boolean;
  stop(): Promise<void>;
}

/** A token server for the registry's `auth.token`: RS256 JWTs with an x5c chain of its self-signed cert. */
export async function startTokenIssuer(users: Record<string, string>, expiresIn = 300): Promise<TokenIssuer> {
  const dir = mkdtempSync(join(tmpdir(), "berth-token-"));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "1",
      "-subj",
      "/CN=berth-test-token",
    ],
    { stdio: "ignore" },
  );
  const key = readFileSync(keyPath, "utf8");
  const der = Buffer.from(
    readFileSync(certPath, "utf8")
      .replace(/-----(BEGIN|END) CERTIFICATE-----/g, "")
      .replace(/\s+/g, ""),
    "base64",
  );
  const service = "berth-test-registry";
  const issuerName = "berth-test-issuer";
  const requests: TokenIssuer["requests"] = [];
  const mint = (user: string, scope: string | null) => {
    const now = Math.floor(Date.now() / 1000);
    const access = [];
    const m = scope ? /^repository:([^:]+):(.+)$/.exec(scope) : null;
    if (m?.[1] && m[2]) access.push({ type: "repository", name: m[1], actions: m[2].split(",") });
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [der.toString("base64")] }));
    const claims = b64url(
      JSON.stringify({
        iss: issuerName,
        sub: user,
        aud: service,
        exp: now + expiresIn,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString("hex"),
        access,
      }),
    );
    const signature = createSign("RSA-SHA256").update(`${header}.${claims}`).sign(key);
    return `${header}.${claims}.${b64url(signature)}`;
  };
  const state = { rejectPost: false };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(json));
      };
      if (req.method === "POST") {
        const form = new URLSearchParams(body);
        requests.push({ method: "POST", scope: form.get("scope"), grant: form.get("grant_type"), basic: false });
        if (state.rejectPost) return send(405, { error: "method not allowed" });
        const user = form.get("username") ?? "";
        if (form.get("grant_type") !== "password" || users[user] !== form.get("password")) {
          return send(401, { error: "invalid_grant" });
        }
        return send(200, { access_token: mint(user, form.get("scope")), expires_in: expiresIn });
      }
      const auth = req.headers.authorization;
      requests.push({ method: "GET", scope: url.searchParams.get("scope"), grant: null, basic: auth !== undefined });
      if (!auth) return send(401, { details: "credentials required" });
      const [user = "", pass] = Buffer.from(auth.replace(/^Basic /, ""), "base64")
        .toString()
        .split(":");
      if (users[user] !== pass) return send(401, { details: "invalid credentials" });
      send(200, {
        token: mint(user, url.searchParams.get("scope")),
        expires_in: expiresIn,
        issued_at: new Date().toISOString(),
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer: issuerName,
    certPath,
    requests,
    get rejectPost() {
      return state.rejectPost;
    },
    set rejectPost(v: boolean) {
      state.rejectPost = v;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      execFileSync("rm", ["-rf", dir]);
    },
  };
}

/** How the fault proxy treats one blob GET; `undefined` passes it through. */
export type Fault =
  | { kind: "cut"; afterBytes: number }
  | { kind: "corrupt"; atByte: number }
  | { kind: "status"; status: number; retryAfter?: string; wwwAuthenticate?: string }
  | { kind: "slow"; bytesPerTick: number }
  | { kind: "redirect"; to: string }
  | { kind: "reset" }
  /** The upstream's body re-sent with `Transfer-Encoding: chunked` instead of its `Content-Length`. */
  | { kind: "chunked" };

export interface FaultProxy {
  readonly host: string;
  /** Decides per request (method, path, headers) what fault to inject. */
  fault: (req: IncomingMessage) => Fault | undefined;
  /** `close`: the request asked for `Connection: close` (berth's socket reads do; undici keeps connections alive). */
  readonly log: Array<{ method: string; path: string; range?: string; auth: boolean; close: boolean; at: number }>;
  /** Requests whose path contains `/blobs/` being served right now, and the most seen at once. */
  readonly blobs: { active: number; max: number };
  stop(): Promise<void>;
}

/** A loopback HTTP proxy in front of `upstream` that injects faults into responses. */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const [upHost, upPort] = upstream.split(":");
  const proxy: FaultProxy = {
    host: "",
    fault: () => undefined,
    log: [],
    blobs: { active: 0, max: 0 },
    stop: async () => undefined,
  };
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    proxy.log.push({
      method: req.method ?? "",
      path: req.url ?? "",
      ...(req.headers.range ? { range: String(req.headers.range) } : {}),
      auth: req.headers.authorization !== undefined,
      close: req.headers.connection === "close",
      at: Date.now(),
    });
    if (req.url?.includes("/blobs/")) {
      proxy.blobs.active++;
      proxy.blobs.max = Math.max(proxy.blobs.max, proxy.blobs.active);
      res.once("close", () => {
        proxy.blobs.active--;
      });
    }
    const fault = proxy.fault(req);
    if (fault?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "status") {
      res.writeHead(fault.status, {
        "content-type": "application/json",
        ...(fault.retryAfter ? { "retry-after": fault.retryAfter } : {}),
        ...(fault.wwwAuthenticate ? { "www-authenticate": fault.wwwAuthenticate } : {}),
      });
      res.end(JSON.stringify({ errors: [{ code: "INJECTED", message: `injected ${fault.status}` }] }));
      return;
    }
    if (fault?.kind === "redirect") {
      res.writeHead(307, { location: `${fault.to}${req.url}` });
      res.end();
      return;
    }
    const headers = { ...req.headers, host: upstream };
    const up = httpRequest({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers }, (ur) => {
      if (fault?.kind === "chunked") {
        const { "content-length": _dropped, ...rest } = ur.headers;
        res.writeHead(ur.statusCode ?? 502, { ...rest, "transfer-encoding": "chunked" });
        ur.pipe(res);
        return;
      }
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      let seen = 0;
      if (!fault) {
        ur.pipe(res);
        return;
      }
      ur.on("data", (chunk: Buffer) => {
        const start = seen;
        seen += chunk.byteLength;
        if (fault.kind === "cut" && seen > fault.afterBytes) {
          res.write(chunk.subarray(0, fault.afterBytes - start));
          ur.destroy();
          res.socket?.destroy();
          return;
        }
        if (fault.kind === "corrupt" && start <= fault.atByte && fault.atByte < seen) {
          const copy = Buffer.from(chunk);
          copy[fault.atByte - start] = (copy[fault.atByte - start] ?? 0) ^ 0xff;
          res.write(copy);
          return;
        }
        if (fault.kind === "slow") {
          ur.pause();
          let pos = 0;
          const tick = () => {
            if (res.destroyed) {
              ur.destroy();
              return;
            }
            const part = chunk.subarray(pos, pos + fault.bytesPerTick);
            pos += part.byteLength;
            res.write(part);
            if (pos < chunk.byteLength) {
              const t = setTimeout(tick, 20);
              timers.add(t);
            } else ur.resume();
          };
          tick();
          return;
        }
        res.write(chunk);
      });
      ur.on("end", () => res.end());
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  (proxy as { host: string }).host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = async () => {
    for (const t of timers) clearTimeout(t);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return proxy;
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(d, { recursive: true });
  return d;
}
