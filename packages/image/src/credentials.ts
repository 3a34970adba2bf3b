import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import createDebug from "debug";
import { errAsync, okAsync, ResultAsync } from "neverthrow";
import { ImageError } from "./errors.js";

const debug = createDebug("berth:image:auth");

/**
 * Credentials for one registry: a username and password (Basic, or the OAuth password grant), or an identity token
 * (an OAuth refresh token, as `docker login` stores for some registries).
 */
export type RegistryCredentials =
  | { readonly username: string; readonly password: string }
  | { readonly identityToken: string; readonly username?: string };

/**
 * Supplies credentials for a registry host (e.g. `ghcr.io`, `127.0.0.1:5000`, `docker.io`). `undefined` means
 * "anonymous". Implement it directly for dynamic sources (e.g. ECR's GetAuthorizationToken).
 */
export type CredentialsProvider = (registry: string) => ResultAsync<RegistryCredentials | undefined, ImageError>;

/** A provider that returns fixed credentials per registry host. */
export function staticCredentials(byRegistry: Readonly<Record<string, RegistryCredentials>>): CredentialsProvider {
  return (registry) => okAsync(byRegistry[registry] ?? byRegistry[aliasOf(registry)]);
}

/** A provider from an async function (e.g. one that calls ECR); its thrown errors become `Unauthorized`. */
export function functionCredentials(
  fn: (registry: string) => Promise<RegistryCredentials | undefined>,
): CredentialsProvider {
  return (registry) =>
    ResultAsync.fromPromise(
      fn(registry),
      (cause) =>
        new ImageError(
          "Unauthorized",
          `the credentials function failed for ${registry}: ${(cause as Error)?.message ?? String(cause)}`,
          { cause },
        ),
    );
}

function aliasOf(registry: string): string {
  if (registry === "docker.io" || registry === "registry-1.docker.io") return "https://index.docker.io/v1/";
  return registry;
}

interface DockerConfig {
  readonly auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  readonly credHelpers?: Record<string, string>;
  readonly credsStore?: string;
}

/** Options of {@link dockerConfigCredentials}. */
export interface DockerConfigOptions {
  /** The config file; default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
  readonly path?: string;
  /** Directory searched for `docker-credential-<name>` helpers before `$PATH` (tests). */
  readonly helperDirectory?: string;
}

function configKeys(registry: string): string[] {
  const keys = [
    registry,
    `https://${registry}`,
    `http://${registry}`,
    `https://${registry}/v1/`,
    `https://${registry}/v2/`,
  ];
  if (registry === "docker.io" || registry === "registry-1.docker.io" || registry === "index.docker.io") {
    keys.unshift("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io");
  }
  return keys;
}

function runHelper(
  helper: string,
  registry: string,
  dir: string | undefined,
): ResultAsync<RegistryCredentials | undefined, ImageError> {
  const bin = dir ? join(dir, `docker-credential-${helper}`) : `docker-credential-${helper}`;
  return ResultAsync.fromPromise(
    new Promise<RegistryCredentials | undefined>((resolve, reject) => {
      const child = execFile(bin, ["get"], { timeout: 30_000, maxBuffer: 1 << 20 }, (error, stdout) => {
        if (error) {
          if (/credentials not found/i.test(stdout)) resolve(undefined);
          else reject(error);
          return;
        }
        try {
          const parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
          if (!parsed.Secret) return resolve(undefined);
          if (parsed.Username === "<token>") resolve({ identityToken: parsed.Secret });
          else resolve({ username: parsed.Username ?? "", password: parsed.Secret });
        } catch (e) {
          reject(e);
        }
      });
      child.stdin?.end(registry);
    }),
    (cause) =>
      new ImageError(
        "Unauthorized",
        `credential helper ${bin} failed for ${registry}: ${(cause as Error).message}; check that it is installed and logged in`,
        { cause },
      ),
  );
}

/**
 * A provider reading docker's `config.json`: `credHelpers` (per registry) first, then `auths` entries (base64
 * `auth`, `username`/`password`, `identitytoken`), then `credsStore`. Helpers are `docker-credential-<name> get`.
 * A missing config file means anonymous.
 */
export function dockerConfigCredentials(options: DockerConfigOptions = {}): CredentialsProvider {
  const path = options.path ?? join(process.env.DOCKER_CONFIG ?? join(homedir(), ".docker"), "config.json");
  return (registry) =>
    ResultAsync.fromPromise(readFile(path, "utf8"), (cause) => cause as NodeJS.ErrnoException)
      .orElse((e) =>
        e.code === "ENOENT"
          ? okAsync("{}")
          : errAsync(new ImageError("Unauthorized", `cannot read docker config ${path}: ${e.message}`, { cause: e })),
      )
      .andThen((text) => {
        let config: DockerConfig;
        try {
          config = JSON.parse(text) as DockerConfig;
        } catch (cause) {
          return errAsync(
            new ImageError("Unauthorized", `docker config ${path} is not valid JSON; fix or remove it`, { cause }),
          );
        }
        const keys = configKeys(registry);
        for (const k of keys) {
          const helper = config.credHelpers?.[k];
          if (helper) {
            debug("credentials for %s from helper %s", registry, helper);
            return runHelper(helper, registry, options.helperDirectory);
          }
        }
        for (const k of keys) {
          const entry = config.auths?.[k];
          if (!entry) continue;
          if (entry.identitytoken)
            return okAsync<RegistryCredentials | undefined>({ identityToken: entry.identitytoken });
          if (entry.auth) {
            const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
            const colon = decoded.indexOf(":");
            if (colon < 0) {
              return errAsync(
                new ImageError(
                  "Unauthorized",
                  `docker config ${path}: auths["${k}"].auth is not base64 of user:password`,
                ),
              );
            }
            debug("credentials for %s from %s auths", registry, path);
            return okAsync<RegistryCredentials | undefined>({
              username: decoded.slice(0, colon),
              password: decoded.slice(colon + 1),
            });
          }
          if (entry.username !== undefined && entry.password !== undefined) {
            return okAsync<RegistryCredentials | undefined>({ username: entry.username, password: entry.password });
          }
        }
        if (config.credsStore) return runHelper(config.credsStore, registry, options.helperDirectory);
        return okAsync<RegistryCredentials | undefined>(undefined);
      });
}
