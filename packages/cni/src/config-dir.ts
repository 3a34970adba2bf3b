import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import createDebug from "debug";
import { err, ok, ResultAsync } from "neverthrow";
import {
  confListFromConf,
  type NetworkConfig,
  type NetworkConfigList,
  type PluginConfig,
  parseConf,
  parseConfListInternal,
  parsePluginConf,
} from "./config.js";
import { CniError, errnoOf, messageOf } from "./errors.js";

const debug = createDebug("berth:cni");

/** Where CNI runtimes conventionally keep network configurations. */
export const DEFAULT_CONF_DIR = "/etc/cni/net.d";

/** Options of {@link loadConfDir}. */
export interface LoadConfDirOptions {
  /**
   * The network to load. With a name, libcni's `LoadConfList` rules apply; without one, the first configuration
   * file in lexical order is loaded (the rule of containerd's go-cni and the CRI plugins).
   */
  readonly name?: string;
}

/**
 * Loads a network configuration list from a `.conflist` file, as libcni's `ConfListFromFile` does: the file is
 * parsed as a list, then, unless `loadOnlyInlinedPlugins` is true, the plugin files `<dir>/<name>/*.conf` next
 * to it (in lexical order; a missing directory is fine) are appended to its plugins. A list that ends up with no
 * plugins fails with `InvalidConfig`. A missing file fails with `ConfigNotFound`, an unreadable one with
 * `IOFailure`, both naming the path.
 */
export function loadConfList(path: string): ResultAsync<NetworkConfigList, CniError> {
  return readConfigFile(path, "network configuration list")
    .andThen((bytes) => parseConfListInternal(bytes, { path }, true))
    .andThen((list) => {
      if (list.loadOnlyInlinedPlugins) return ok(list);
      const pluginDir = join(dirname(path), list.name);
      return loadPluginDir(pluginDir).map((extra) =>
        extra.length === 0 ? list : { ...list, plugins: [...list.plugins, ...extra] },
      );
    })
    .andThen((list) => {
      if (list.plugins.length > 0) return ok(list);
      return err(
        new CniError(
          "InvalidConfig",
          `invalid CNI network configuration list ${path}: it has no plugins, neither in "plugins" nor as ` +
            `${join(dirname(path), list.name, "*.conf")}: add a "plugins" list`,
          { path, network: list.name },
        ),
      );
    })
    .map((list) => {
      debug("loaded network %s from %s (%d plugins)", list.name, path, list.plugins.length);
      return list;
    });
}

/**
 * Loads a single-plugin network configuration (`.conf` or `.json`) file; see {@link parseConf}. Run it with
 * {@link confListFromConf}.
 */
export function loadConf(path: string): ResultAsync<NetworkConfig, CniError> {
  return readConfigFile(path, "network configuration").andThen((bytes) => parseConf(bytes, { path }));
}

/**
 * Finds and loads a network from a configuration directory (default {@link DEFAULT_CONF_DIR}), following libcni.
 *
 * With `name` (libcni's `LoadConfList`): every `.conflist` file in lexical (byte) order is loaded with
 * {@link loadConfList} and the first whose `name` matches wins; only then are `.conf` and `.json` files tried, in
 * lexical order, and a match is converted with {@link confListFromConf}. So a `.conflist` beats a `.conf` of the
 * same name whatever their file names.
 *
 * Without `name`: the first `.conf`, `.conflist` or `.json` file in lexical order is loaded (go-cni / CRI).
 *
 * As in libcni, invalid files are not skipped: the first file that fails to load or parse, before a match is
 * found, fails the whole call with its `InvalidConfig` / `IOFailure` error naming that file. Subdirectories are
 * ignored, symlinks are followed. A missing directory, a directory with no configuration files, or no network of
 * that name fails with `ConfigNotFound`.
 */
export function loadConfDir(
  dir: string = DEFAULT_CONF_DIR,
  options: LoadConfDirOptions = {},
): ResultAsync<NetworkConfigList, CniError> {
  const { name } = options;
  if (name === undefined) {
    return listConfFiles(dir, [".conf", ".conflist", ".json"]).andThen((files) => {
      const first = files[0];
      if (first === undefined) return err(noConfigs(dir));
      debug("no network name given: loading the first configuration in %s, %s", dir, first);
      return loadAny(first);
    });
  }
  return new ResultAsync(findByName(dir, name));
}

async function findByName(dir: string, name: string) {
  const seen: string[] = [];
  const lists = await listConfFiles(dir, [".conflist"]);
  if (lists.isErr()) return err(lists.error);
  for (const file of lists.value) {
    const list = await loadConfList(file);
    if (list.isErr()) return err(list.error);
    if (list.value.name === name) return ok(list.value);
    seen.push(list.value.name);
  }
  const confs = await listConfFiles(dir, [".conf", ".json"]);
  if (confs.isErr()) return err(confs.error);
  if (lists.value.length === 0 && confs.value.length === 0) return err(noConfigs(dir));
  for (const file of confs.value) {
    const conf = await loadConf(file);
    if (conf.isErr()) return err(conf.error);
    if (conf.value.name === name) {
      debug("loaded network %s from %s (single-plugin configuration)", name, file);
      return ok(confListFromConf(conf.value));
    }
    seen.push(conf.value.name);
  }
  const found = seen.length === 0 ? "" : ` (found: ${seen.map((n) => JSON.stringify(n)).join(", ")})`;
  return err(
    new CniError(
      "ConfigNotFound",
      `no CNI network named ${JSON.stringify(name)} in ${dir}${found}: add a .conflist with that "name" or fix the name`,
      { path: dir, network: name },
    ),
  );
}

function loadAny(path: string): ResultAsync<NetworkConfigList, CniError> {
  return extensionOf(path) === ".conflist" ? loadConfList(path) : loadConf(path).map(confListFromConf);
}

function noConfigs(dir: string): CniError {
  return new CniError(
    "ConfigNotFound",
    `no CNI network configurations in ${dir}: add a .conflist (or .conf/.json) file there, or pass another directory`,
    { path: dir },
  );
}

function loadPluginDir(dir: string): ResultAsync<PluginConfig[], CniError> {
  return listConfFiles(dir, [".conf"]).andThen((files) =>
    ResultAsync.combine(
      files.map((file) =>
        readConfigFile(file, "plugin configuration").andThen((bytes) => parsePluginConf(bytes, { path: file })),
      ),
    ).map((plugins) => {
      if (plugins.length > 0) debug("appending %d plugin files from %s", plugins.length, dir);
      return plugins;
    }),
  );
}

// libcni's ConfFiles: regular entries (not directories) whose extension is one of `extensions`, in byte order;
// a missing directory holds no files.
function listConfFiles(dir: string, extensions: readonly string[]): ResultAsync<string[], CniError> {
  return new ResultAsync(
    readdir(dir, { withFileTypes: true }).then(
      (entries) => {
        const names = entries
          .filter((e) => !e.isDirectory() && extensions.includes(extensionOf(e.name)))
          .map((e) => e.name)
          .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        return ok(names.map((n) => join(dir, n)));
      },
      (cause: unknown) => {
        if (errnoOf(cause) === "ENOENT") return ok([]);
        return err(
          new CniError(
            "IOFailure",
            `cannot read CNI configuration directory ${dir}: ${messageOf(cause)}: check that it is a readable directory`,
            { path: dir, cause },
          ),
        );
      },
    ),
  );
}

function readConfigFile(path: string, what: string): ResultAsync<Uint8Array, CniError> {
  return ResultAsync.fromPromise(readFile(path), (cause) => {
    if (errnoOf(cause) === "ENOENT") {
      return new CniError("ConfigNotFound", `CNI ${what} ${path} does not exist: check the path`, { path, cause });
    }
    return new CniError(
      "IOFailure",
      `cannot read CNI ${what} ${path}: ${messageOf(cause)}: check that it is a readable file`,
      { path, cause },
    );
  });
}

// Go's filepath.Ext: from the last '.' of the name, so ".conf" itself has the extension ".conf".
function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return dot < 0 ? "" : base.slice(dot);
}
