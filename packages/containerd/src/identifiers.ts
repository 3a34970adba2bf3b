import { err, ok, type Result } from "neverthrow";
import { ContainerdError } from "./errors.js";

// containerd's identifiers package: alphanumerics separated by single '.', '_' or '-', at most 76 characters.
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const MAX_IDENTIFIER_LENGTH = 76;

/**
 * Checks a namespace, container or snapshot-free identifier against containerd's rules, so a bad
 * name fails here with a clear message instead of as an InvalidArgument from the daemon.
 */
export function validateIdentifier(kind: string, value: string): Result<string, ContainerdError> {
  if (value.length === 0) {
    return err(new ContainerdError("InvalidArgument", `${kind} must not be empty`, { resource: kind }));
  }
  if (value.length > MAX_IDENTIFIER_LENGTH) {
    return err(
      new ContainerdError(
        "InvalidArgument",
        `${kind} ${JSON.stringify(value)} is ${value.length} characters long; containerd allows at most ${MAX_IDENTIFIER_LENGTH}`,
        { resource: kind },
      ),
    );
  }
  if (!IDENTIFIER.test(value)) {
    return err(
      new ContainerdError(
        "InvalidArgument",
        `${kind} ${JSON.stringify(value)} is not a valid containerd identifier: use letters and digits, ` +
          `separated by single '.', '_' or '-' (e.g. "berth-task-1")`,
        { resource: kind },
      ),
    );
  }
  return ok(value);
}
