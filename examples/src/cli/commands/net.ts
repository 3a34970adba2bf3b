import { isAbsolute } from "node:path";
import { type Attachment, confListFromConf, createCni, DEFAULT_CACHE_DIR, loadConf, loadConfList } from "@berth/cni";
import { type Command, parseCommandArgs } from "../command.js";

const HELP = `usage: pnpm berth net up|check|down CONFLIST --netns PATH_OR_NAME --id ID [options]

Attaches a network namespace to a CNI network (up = ADD), checks it (CHECK) or detaches it (down = DEL), running
the plugins as libcni does (cnitool's job). up prints the result JSON.
  CONFLIST        a .conflist file (or a .conf / .json single-plugin file)
  --netns         network namespace: a path, or a name under /var/run/netns (may be omitted for down)
  --id            container id (CNI_CONTAINERID)
  --ifname        interface name inside the namespace (default eth0)
  --cap K=JSON    capability arg, repeatable, e.g. --cap 'portMappings=[{"hostPort":8080,"containerPort":80}]'
  --args K=V;...  CNI_ARGS
  --cni-path      plugin directories, ':'-separated (default $CNI_PATH, then /opt/cni/bin:/usr/lib/cni)
  --cache-dir     result cache root (default ${DEFAULT_CACHE_DIR})
  --timeout       deadline in milliseconds (default 60000)
  --no-rollback   up: leave a half-done attachment in place when a plugin fails
  --no-launcher   spawn each plugin directly from this process instead of through berth's resident perl launcher`;

const ACTIONS = ["up", "check", "down"] as const;
type Action = (typeof ACTIONS)[number];

export const netCommand: Command = {
  summary: "attach / check / detach a network namespace with CNI plugins (ADD, CHECK, DEL)",
  async run(args) {
    const parsed = parseCommandArgs(
      args,
      {
        netns: { type: "string" },
        id: { type: "string" },
        ifname: { type: "string", default: "eth0" },
        cap: { type: "string", multiple: true },
        args: { type: "string" },
        "cni-path": { type: "string" },
        "cache-dir": { type: "string" },
        timeout: { type: "string", default: "60000" },
        "no-rollback": { type: "boolean", default: false },
        "no-launcher": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
      HELP,
    );
    if (!parsed) return args.includes("--help") || args.includes("-h") ? 0 : 2;
    const [action, file, ...extra] = parsed.positionals;
    const usage = (why: string) => {
      console.error(`berth: ${why}\n\n${HELP}`);
      return 2;
    };
    if (!ACTIONS.includes(action as Action))
      return usage(`the action must be up, check or down, not ${action ?? "(none)"}`);
    if (file === undefined || extra.length > 0) return usage("give exactly one CONFLIST file");
    const { values } = parsed;
    if (values.id === undefined) return usage("--id is required");
    if (values.netns === undefined && action !== "down") return usage("--netns is required");
    const timeoutMs = Number(values.timeout);
    if (!(timeoutMs > 0)) return usage(`--timeout must be a positive number of milliseconds, not ${values.timeout}`);

    const capabilityArgs: Record<string, unknown> = {};
    for (const cap of values.cap ?? []) {
      const eq = cap.indexOf("=");
      if (eq <= 0) return usage(`--cap ${cap}: expected NAME=JSON`);
      try {
        capabilityArgs[cap.slice(0, eq)] = JSON.parse(cap.slice(eq + 1));
      } catch (e) {
        return usage(`--cap ${cap}: the value is not JSON (${(e as Error).message})`);
      }
    }
    const cniArgs: Array<[string, string]> = [];
    for (const pair of (values.args ?? "").split(";").filter((p) => p !== "")) {
      const eq = pair.indexOf("=");
      if (eq <= 0) return usage(`--args ${pair}: expected K=V`);
      cniArgs.push([pair.slice(0, eq), pair.slice(eq + 1)]);
    }

    const loaded = file.endsWith(".conflist") ? await loadConfList(file) : await loadConf(file).map(confListFromConf);
    if (loaded.isErr()) {
      console.error(`berth: ${loaded.error.message}`);
      return 1;
    }
    const list = loaded.value;
    const netns =
      values.netns === undefined
        ? undefined
        : isAbsolute(values.netns)
          ? values.netns
          : `/var/run/netns/${values.netns}`;
    const attachment: Attachment = {
      containerId: values.id,
      ifName: values.ifname,
      ...(netns === undefined ? {} : { netns }),
      ...(cniArgs.length > 0 ? { args: cniArgs } : {}),
      ...(Object.keys(capabilityArgs).length > 0 ? { capabilityArgs } : {}),
    };
    const cni = createCni({
      cniPath: values["cni-path"] ?? process.env.CNI_PATH ?? "/opt/cni/bin:/usr/lib/cni",
      ...(values["cache-dir"] === undefined ? {} : { cacheDir: values["cache-dir"] }),
      ...(values["no-launcher"] ? { launcher: false } : {}),
    });
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const options = { timeoutMs, signal: controller.signal };
      const outcome =
        action === "up"
          ? await cni.add(list, attachment, { ...options, rollback: !values["no-rollback"] })
          : action === "check"
            ? await cni.check(list, attachment, options)
            : await cni.del(list, attachment, options);
      if (outcome.isErr()) {
        const e = outcome.error;
        console.error(`berth: ${e.message}`);
        console.log(
          JSON.stringify({
            error: { code: e.code, cniCode: e.cniCode, plugin: e.plugin, network: e.network, message: e.message },
          }),
        );
        return 1;
      }
      if (action === "up") console.log(JSON.stringify(outcome.value, null, 2));
      return 0;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  },
};
