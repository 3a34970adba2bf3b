import { readFile } from "node:fs/promises";
import { isAbsolute, join, normalize } from "node:path";
import { AgentError } from "./errors.js";
import { type AgentResult, err, ok } from "./result.js";

/**
 * Resolves a `secrets[].valueFrom` reference to the secret's value. The agent calls it while creating each container;
 * plug in SSM Parameter Store or Secrets Manager here (the example ships {@link fileSecrets}).
 */
export type SecretProvider = (
  valueFrom: string,
  options: { readonly signal?: AbortSignal },
) => Promise<AgentResult<string>>;

/**
 * A local provider: `valueFrom` names a file under `dir` (e.g. `db-password`); its content, without one trailing
 * newline, is the value. References that leave `dir` (absolute, `..`) are refused.
 */
export function fileSecrets(dir: string): SecretProvider {
  return async (valueFrom) => {
    const rel = normalize(valueFrom);
    if (isAbsolute(rel) || rel === ".." || rel.startsWith("../") || rel === ".") {
      return err(
        new AgentError("ContainerFailed", `secret ${JSON.stringify(valueFrom)} must name a file inside ${dir}`),
      );
    }
    try {
      const text = await readFile(join(dir, rel), "utf8");
      return ok(text.endsWith("\n") ? text.slice(0, -1) : text);
    } catch (e) {
      return err(
        new AgentError(
          "ContainerFailed",
          `reading secret ${JSON.stringify(valueFrom)} from ${dir}: ${(e as Error).message}`,
          {
            cause: e,
          },
        ),
      );
    }
  };
}
