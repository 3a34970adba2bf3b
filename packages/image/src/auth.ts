/** A parsed `WWW-Authenticate` challenge: `Bearer realm=...,service=...,scope=...` or `Basic realm=...`. */
export interface AuthChallenge {
  readonly scheme: "bearer" | "basic";
  /** Lowercased parameter names, unquoted values. */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses a `WWW-Authenticate` header value into its challenges (RFC 7235: several challenges may be
 * comma-separated, parameters may be quoted with backslash escapes). Unknown schemes are skipped.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = () => {
    while (i < n && (header[i] === " " || header[i] === "\t" || header[i] === ",")) i++;
  };
  let current: { scheme: string; params: Record<string, string> } | undefined;
  const flush = () => {
    if (current && (current.scheme === "bearer" || current.scheme === "basic")) {
      out.push({ scheme: current.scheme, params: current.params });
    }
  };
  while (i < n) {
    skipWs();
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i] ?? "")) i++;
    const token = header.slice(start, i);
    if (token === "") {
      i++;
      continue;
    }
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
    if (header[i] === "=") {
      // a parameter of the current challenge
      i++;
      while (i < n && (header[i] === " " || header[i] === "\t")) i++;
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        const vs = i;
        while (i < n && header[i] !== "," && header[i] !== " ") i++;
        value = header.slice(vs, i);
      }
      if (current) current.params[token.toLowerCase()] = value;
    } else {
      flush();
      current = { scheme: token.toLowerCase(), params: {} };
    }
  }
  flush();
  return out;
}

/** A bearer token and when it stops being usable (ms since the epoch). */
export interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/**
 * Bearer tokens per (realm, service, scope), kept until shortly before they expire. Registries give
 * `expires_in` (seconds, default 60 per the token spec) and optionally `issued_at`.
 */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The cache key of a token request. */
  static key(realm: string, service: string | undefined, scope: string): string {
    return `${realm}\n${service ?? ""}\n${scope}`;
  }

  /** The token for the key, unless missing or within 5 seconds of expiring. */
  get(key: string): string | undefined {
    const t = this.#tokens.get(key);
    if (!t) return undefined;
    if (t.expiresAt - 5_000 <= this.#now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  /** Stores a token from a token-endpoint response. */
  set(key: string, token: string, expiresInSeconds: number | undefined, issuedAt: string | undefined): CachedToken {
    const lifetime = (expiresInSeconds !== undefined && expiresInSeconds > 0 ? expiresInSeconds : 60) * 1000;
    const issued = issuedAt ? Date.parse(issuedAt) : Number.NaN;
    const base = Number.isFinite(issued) && issued <= this.#now() ? issued : this.#now();
    const entry = { token, expiresAt: base + lifetime };
    this.#tokens.set(key, entry);
    return entry;
  }

  /** Forgets a token (after the registry rejected it). */
  delete(key: string): void {
    this.#tokens.delete(key);
  }
}

/**
 * Milliseconds to wait from a `Retry-After` value (delta seconds or an HTTP date), or undefined when absent or
 * unparseable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
