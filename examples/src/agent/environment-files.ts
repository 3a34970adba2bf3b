import { readFile } from "node:fs/promises";
import { isAbsolute, join, normalize } from "node:path";
import { AgentError } from "./errors.js";
import { type AgentResult, err, ok } from "./result.js";
import type { EnvironmentFileDefinition } from "./task-definition.js";

/**
 * Reads one `environmentFiles` entry and returns the file's text. The agent calls it while creating each container
 * and parses the text with {@link parseEnvironmentFile}; plug in S3 here (the example ships
 * {@link localEnvironmentFiles}).
 */
export type EnvironmentFileProvider = (
  file: EnvironmentFileDefinition,
  options: { readonly signal?: AbortSignal },
) => Promise<AgentResult<string>>;

/** The S3 object ARN form ECS takes: `arn:aws:s3:::bucket/key.env` (any partition). */
const S3_ARN = /^arn:[a-z-]+:s3:::([^/]+)\/(.+)$/;

/**
 * A local provider: an S3 ARN `arn:aws:s3:::bucket/path/app.env` reads `dir/bucket/path/app.env`, a plain relative
 * `value` (`app.env`) reads `dir/app.env`. Paths that leave `dir` (absolute, `..`) are refused.
 */
export function localEnvironmentFiles(dir: string): EnvironmentFileProvider {
  return async (file) => {
    const m = S3_ARN.exec(file.value);
    const rel = normalize(m ? `${m[1]}/${m[2]}` : file.value);
    if (isAbsolute(rel) || rel === ".." || rel.startsWith("../") || rel === ".") {
      return err(
        new AgentError(
          "ContainerFailed",
          `environment file ${JSON.stringify(file.value)} must name a file inside ${dir} (or an S3 ARN under it)`,
        ),
      );
    }
    try {
      return ok(await readFile(join(dir, rel), "utf8"));
    } catch (e) {
      return err(
        new AgentError(
          "ContainerFailed",
          `reading environment file ${JSON.stringify(file.value)} from ${dir}: ${(e as Error).message}`,
          { cause: e },
        ),
      );
    }
  };
}

/**
 * Parses a `.env` file as ECS does: one `NAME=VALUE` per line, split at the first `=`; lines starting with `#` and
 * blank lines are skipped; spaces and quotes are part of the value. Within one file a later line wins. A line with
 * no `=` or an empty name is refused (ECS would skip it silently), naming the file and line.
 */
export function parseEnvironmentFile(text: string, source: string): AgentResult<Array<[string, string]>> {
  const vars = new Map<string, string>();
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const name = eq === -1 ? "" : line.slice(0, eq);
    if (eq === -1 || name === "" || /\s/.test(name)) {
      return err(
        new AgentError(
          "ContainerFailed",
          `environment file ${source} line ${i + 1} is not NAME=VALUE (names have no spaces; comments start with #)`,
        ),
      );
    }
    vars.set(name, line.slice(eq + 1));
  }
  return ok([...vars]);
}

/**
 * Reads a container's environment files through `provider` and merges them: a variable from an earlier file wins
 * over the same one in a later file (ECS's rule). The container's own `environment` is applied after these, so it
 * wins over every file.
 */
export async function environmentFromFiles(
  files: readonly EnvironmentFileDefinition[],
  provider: EnvironmentFileProvider,
  options: { readonly signal?: AbortSignal } = {},
): Promise<AgentResult<Array<[string, string]>>> {
  const merged = new Map<string, string>();
  for (const file of files) {
    const text = await provider(file, options);
    if (!text.ok) return text;
    const parsed = parseEnvironmentFile(text.value, file.value);
    if (!parsed.ok) return parsed;
    for (const [name, value] of parsed.value) if (!merged.has(name)) merged.set(name, value);
  }
  return ok([...merged]);
}
