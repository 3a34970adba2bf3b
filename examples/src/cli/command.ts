import { type ParseArgsConfig, parseArgs } from "node:util";

/** One `pnpm berth` command. `run` returns the process exit code. */
export interface Command {
  readonly summary: string;
  run(args: readonly string[]): Promise<number>;
}

/** Parses a command's arguments; on bad usage prints the problem and the command's help, returning undefined. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: readonly string[],
  options: T,
  help: string,
): ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>> | undefined {
  try {
    const parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
    if ((parsed.values as Record<string, unknown>).help === true) {
      console.log(help);
      return undefined;
    }
    return parsed;
  } catch (e) {
    console.error(`berth: ${(e as Error).message}\n\n${help}`);
    return undefined;
  }
}
