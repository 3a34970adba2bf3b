// `pnpm berth log-uri`: URIs built from --opt flags, parsed back with --parse, and usage errors.
import { resolve } from "node:path";
import { parseBerthLoggerUri, parseShimLoggerUri } from "@berth/log-shim";
import { describe, expect, it } from "vitest";
import { REPO_ROOT, runBerth } from "./berth-cli.js";

/** `pnpm berth log-uri ARGS...`, stdout trimmed. */
async function berth(args: string[]) {
  const r = await runBerth(["log-uri", ...args]);
  return { ...r, stdout: r.code === 0 ? r.stdout.trim() : r.stdout };
}

describe("pnpm berth log-uri", () => {
  it("builds a shim-loggers URI with pflag booleans inside the key, and parses it back", async () => {
    const built = await berth([
      "fluentd",
      "--opt",
      "container-id=c1",
      "--opt",
      "container-name=web",
      "--opt",
      "fluentd-async=false",
      "--binary",
      "/opt/shim-loggers",
    ]);
    expect(built.code).toBe(0);
    expect(built.stdout).toBe(
      "binary:///opt/shim-loggers?--container-id=c1&--container-name=web&--fluentd-async%3Dfalse=&--log-driver=fluentd",
    );
    expect(parseShimLoggerUri(built.stdout)._unsafeUnwrap().options.driver).toEqual({ name: "fluentd", async: false });
    const parsed = await berth(["--parse", built.stdout]);
    expect(parsed.code).toBe(0);
    expect(JSON.parse(parsed.stdout)).toEqual({
      logger: "shim-loggers-for-containerd",
      binaryPath: "/opt/shim-loggers",
      options: { containerId: "c1", containerName: "web", driver: { name: "fluentd", async: false } },
    });
  });

  it("builds a berth-logger URI pointing at the installed bin by default", async () => {
    const built = await berth(["berth-logger", "--opt", "driver=json-file", "--opt", "log-path=/var/log/c.log"]);
    expect(built.code).toBe(0);
    const p = parseBerthLoggerUri(built.stdout)._unsafeUnwrap();
    expect(p.binaryPath).toBe(resolve(REPO_ROOT, "packages/log-shim/dist/bin/berth-logger.cjs"));
    expect(p.options).toEqual({ driver: { name: "json-file", logPath: "/var/log/c.log" } });
  });

  it("prints file:// URIs and their config", async () => {
    expect((await berth(["file", "--opt", "path=/var/log/a b.log"])).stdout).toBe("file:///var/log/a%20b.log");
    expect(JSON.parse((await berth(["--parse", "file:///var/log/a%20b.log"])).stdout)).toEqual({
      scheme: "file",
      path: "/var/log/a b.log",
    });
  });

  it("exits 1 with the rule broken, 2 on bad usage", async () => {
    const missing = await berth(["awslogs", "--opt", "container-id=c", "--opt", "container-name=n"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("[MissingOption]");
    const bad = await berth(["--parse", "binary://host/x?--log-driver=fluentd"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("[InvalidUri]");
    expect((await berth(["nope"])).code).toBe(2);
    expect((await berth(["fluentd", "--opt", "novalue"])).code).toBe(2);
  });
});
