import { Buffer } from "node:buffer";
import { release } from "node:os";
import { err, ok, type Result } from "neverthrow";
import { ImageError } from "./errors.js";

/**
 * An OCI platform: what an image index entry runs on, or what a host wants. Names follow Go's GOOS/GOARCH
 * (`linux`, `amd64`, `arm64`, `arm` + variant `v7`), as the OCI image spec requires. `osVersion` and
 * `osFeatures` correspond to the spec's `os.version` and `os.features` fields.
 */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  /** CPU variant, e.g. `v7` for 32-bit ARM; absent for the default variant of an architecture. */
  readonly variant?: string;
  /** OS version, used by Windows images (e.g. `10.0.17763.5820`). */
  readonly osVersion?: string;
  /** Required OS features, e.g. `win32k`. */
  readonly osFeatures?: readonly string[];
}

// Go's known GOOS and GOARCH values (go/build/syslist.go), used to read one-word specifiers.
const KNOWN_OS = new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "hurd",
  "illumos",
  "ios",
  "js",
  "linux",
  "nacl",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "wasip1",
  "windows",
  "zos",
]);
const KNOWN_ARCH = new Set([
  "386",
  "amd64",
  "amd64p32",
  "arm",
  "armbe",
  "arm64",
  "arm64be",
  "loong64",
  "mips",
  "mipsle",
  "mips64",
  "mips64le",
  "mips64p32",
  "mips64p32le",
  "ppc",
  "ppc64",
  "ppc64le",
  "riscv",
  "riscv64",
  "s390",
  "s390x",
  "sparc",
  "sparc64",
  "wasm",
]);

const OS_COMPONENT = /^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?$/;
const COMPONENT = /^[A-Za-z0-9_.-]+$/;
const PLATFORM_EXAMPLES = `e.g. "linux/amd64", "linux/arm64", "linux/arm/v7" or "windows(10.0.17763)/amd64"`;

function normalizeOS(os: string): string {
  const lower = os.toLowerCase();
  return lower === "macos" ? "darwin" : lower;
}

function normalizeArch(architecture: string, variant: string): { architecture: string; variant: string } {
  const arch = architecture.toLowerCase();
  const v = variant.toLowerCase();
  switch (arch) {
    case "i386":
      return { architecture: "386", variant: "" };
    case "x86_64":
    case "x86-64":
    case "amd64":
      return { architecture: "amd64", variant: v === "v1" ? "" : v };
    case "aarch64":
    case "arm64":
      return { architecture: "arm64", variant: v === "8" || v === "v8" ? "" : v };
    case "armhf":
      return { architecture: "arm", variant: "v7" };
    case "armel":
      return { architecture: "arm", variant: "v6" };
    case "arm":
      if (v === "" || v === "7") return { architecture: "arm", variant: "v7" };
      if (v === "5" || v === "6" || v === "8") return { architecture: "arm", variant: `v${v}` };
      return { architecture: "arm", variant: v };
    default:
      return { architecture: arch, variant: v };
  }
}

/**
 * Returns the canonical form of a platform, following containerd's `platforms.Normalize`:
 * the OS is lowercased (`macos` -> `darwin`); `x86_64`/`x86-64` -> `amd64` (variant `v1` dropped);
 * `aarch64` -> `arm64` and `arm64/v8` -> `arm64` with no variant; `armhf` -> `arm/v7`; `armel` -> `arm/v6`;
 * `arm` without a variant -> `arm/v7` and bare ARM versions (`6`) get a `v`; `i386` -> `386`.
 * OS features are sorted and de-duplicated; empty optional fields are left out.
 */
export function normalizePlatform(platform: Platform): Platform {
  const { architecture, variant } = normalizeArch(platform.architecture, platform.variant ?? "");
  const features = [...new Set(platform.osFeatures ?? [])].sort();
  return {
    os: normalizeOS(platform.os),
    architecture,
    ...(variant === "" ? {} : { variant }),
    ...(platform.osVersion === undefined || platform.osVersion === "" ? {} : { osVersion: platform.osVersion }),
    ...(features.length === 0 ? {} : { osFeatures: features }),
  };
}

function decodeOption(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

function encodeOption(value: string): string {
  return value.replace(/[^A-Za-z0-9_.-]/gu, (c) =>
    Array.from(Buffer.from(c, "utf8"), (b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""),
  );
}

/**
 * Parses a platform specifier as containerd's `platforms.Parse` does:
 * `<os>[(<osVersion>[+<osFeature>]*)][/<arch>[/<variant>]]`, or a bare architecture.
 *
 * - `linux/arm/v7`, `linux/amd64`, `windows(10.0.17763+win32k)/amd64` name the parts directly.
 * - A single known OS (`linux`) takes this host's architecture; a single known architecture (`arm64`,
 *   `aarch64`) takes this host's OS.
 * - The result is normalized (see {@link normalizePlatform}); `%`-escapes in OS options are decoded.
 *
 * Errors have code `InvalidPlatform` and name the offending component.
 */
export function parsePlatform(specifier: string): Result<Platform, ImageError> {
  const invalid = (why: string) =>
    err(
      new ImageError("InvalidPlatform", `invalid platform ${JSON.stringify(specifier)}: ${why} (${PLATFORM_EXAMPLES})`),
    );

  if (specifier === "") return invalid("the specifier is empty");
  if (specifier.includes("*")) return invalid("wildcards are not supported; name the platform");
  const parts = specifier.split("/");
  if (parts.length > 3) return invalid(`it has ${parts.length} components but at most 3 (os/arch/variant) are allowed`);
  const [osPart = "", archPart, variantPart] = parts;

  const osMatch = OS_COMPONENT.exec(osPart);
  if (!osMatch?.[1]) {
    return invalid(
      `${JSON.stringify(osPart)} is not a valid OS component: use letters, digits, '_' and '-', optionally ` +
        `followed by (version+feature)`,
    );
  }
  for (const part of [archPart, variantPart]) {
    if (part !== undefined && !COMPONENT.test(part)) {
      return invalid(`${JSON.stringify(part)} is not a valid component: use letters, digits, '_', '.' and '-'`);
    }
  }
  const osVersion = decodeOption(osMatch[2] ?? "");
  if (osVersion === undefined) return invalid(`OS version ${JSON.stringify(osMatch[2])} has a malformed %-escape`);
  const osFeatures: string[] = [];
  for (const raw of (osMatch[3] ?? "").split("+").slice(1)) {
    const feature = decodeOption(raw);
    if (feature === undefined) return invalid(`OS feature ${JSON.stringify(raw)} has a malformed %-escape`);
    osFeatures.push(feature);
  }
  const options = { osVersion, osFeatures };

  if (archPart === undefined) {
    const os = normalizeOS(osMatch[1]);
    if (KNOWN_OS.has(os)) {
      const host = hostPlatform();
      return ok(normalizePlatform({ ...options, os, architecture: host.architecture, variant: host.variant ?? "" }));
    }
    const { architecture, variant } = normalizeArch(osPart, "");
    if (KNOWN_ARCH.has(architecture)) {
      return ok(normalizePlatform({ os: hostPlatform().os, architecture, variant }));
    }
    return invalid(`${JSON.stringify(osPart)} is neither a known operating system nor a known architecture`);
  }
  return ok(normalizePlatform({ ...options, os: osMatch[1], architecture: archPart, variant: variantPart ?? "" }));
}

/**
 * Formats a platform as a specifier `parsePlatform` reads back: `os[(osVersion+feature…)]/arch[/variant]`,
 * e.g. `linux/arm64` or `windows(10.0.17763)/amd64`. The platform is written as given; pass it through
 * {@link normalizePlatform} first for canonical text. OS options are `%`-escaped where needed.
 */
export function formatPlatform(platform: Platform): string {
  let options = encodeOption(platform.osVersion ?? "");
  for (const feature of [...(platform.osFeatures ?? [])].sort()) options += `+${encodeOption(feature)}`;
  const os = options === "" ? platform.os : `${platform.os}(${options})`;
  return [os, platform.architecture, platform.variant].filter((part) => part !== undefined && part !== "").join("/");
}

interface WindowsVersion {
  readonly major: number;
  readonly minor: number;
  readonly build: number;
}

function windowsVersion(version: string): WindowsVersion | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)(?:\.|$)/.exec(version);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), build: Number(match[3]) };
}

// Windows Server 2022 (build 20348) is the first LTSC release with a stable container ABI: hosts at or above it
// run containers from 20348 up to their own build; older hosts need an exact build match.
const WINDOWS_STABLE_ABI_BUILD = 20348;

function windowsVersionMatches(wanted: string | undefined, candidate: string | undefined): boolean {
  if (wanted === undefined || candidate === undefined) return true;
  const host = windowsVersion(wanted);
  if (host === undefined) return true;
  const image = windowsVersion(candidate);
  if (image === undefined || host.major !== image.major || host.minor !== image.minor) return false;
  if (host.build < WINDOWS_STABLE_ABI_BUILD) return host.build === image.build;
  return image.build >= WINDOWS_STABLE_ABI_BUILD && image.build <= host.build;
}

/**
 * True when an image built for `candidate` is what `wanted` asks for, with containerd's matcher semantics:
 * OS, architecture and variant are equal after {@link normalizePlatform} (so `arm64` matches `arm64/v8`,
 * `aarch64` matches `arm64`, `arm` matches `arm/v7`); the candidate's OS features are a subset of the wanted
 * ones; and for Windows, when both give an OS version, the image's build must run on the wanted host build.
 * There is no cross-variant fallback (`arm/v7` does not match `arm/v6`).
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture || (w.variant ?? "") !== (c.variant ?? "")) return false;
  const available = new Set(w.osFeatures ?? []);
  if (!(c.osFeatures ?? []).every((feature) => available.has(feature))) return false;
  return w.os !== "windows" || windowsVersionMatches(w.osVersion, c.osVersion);
}

const NODE_ARCH: Readonly<Record<string, string>> = {
  x64: "amd64",
  ia32: "386",
  arm: "arm",
  arm64: "arm64",
  mipsel: "mipsle",
  mips: "mips",
  ppc: "ppc",
  riscv64: "riscv64",
  loong64: "loong64",
  s390: "s390",
  s390x: "s390x",
};

const NODE_OS: Readonly<Record<string, string>> = { win32: "windows", sunos: "solaris", cygwin: "windows" };

/**
 * Maps Node's names (`process.arch`, `process.platform`) to an OCI platform: `x64` -> `amd64`, `ia32` -> `386`,
 * `win32` -> `windows`, `ppc64` -> `ppc64le` on Linux (Node runs little-endian there), and so on. `armVersion`
 * is Node's `process.config.variables.arm_version` (e.g. `"7"`), the ARM version the runtime was built for.
 */
export function platformFromNode(arch: string, platform: string, armVersion?: string): Platform {
  const os = NODE_OS[platform] ?? platform;
  const architecture = arch === "ppc64" ? (os === "aix" ? "ppc64" : "ppc64le") : (NODE_ARCH[arch] ?? arch);
  return normalizePlatform({ os, architecture, variant: architecture === "arm" ? (armVersion ?? "") : "" });
}

/**
 * The platform this process runs on, normalized (e.g. `{ os: "linux", architecture: "amd64" }`). On Windows the
 * OS version (`os.release()`) is included so that Windows images can be matched by build.
 */
export function hostPlatform(): Platform {
  const variables = process.config.variables as unknown as Readonly<Record<string, unknown>>;
  const arm = variables.arm_version;
  const armVersion = typeof arm === "string" || typeof arm === "number" ? String(arm) : undefined;
  const host = platformFromNode(process.arch, process.platform, armVersion);
  return host.os === "windows" ? normalizePlatform({ ...host, osVersion: release() }) : host;
}
