# shellcheck shell=bash
# Sourced by scripts/test, scripts/demo and .ci/run: makes sure Node >= 20, the pinned pnpm and the
# workspace's dependencies are present. Logs go to stderr.

berth_log() { echo "[berth] $*" >&2; }

# The pnpm version pinned in package.json's packageManager field.
berth_pnpm_version() {
  node -e 'process.stdout.write(require("./package.json").packageManager.split("@")[1])'
}

ensure_toolchain() {
  command -v node >/dev/null || { berth_log "Node.js >= 20 is required (Debian: apt-get install nodejs, or nodesource)"; return 1; }
  local major; major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || { berth_log "Node.js >= 20 is required, found $(node --version)"; return 1; }
  local want; want=$(berth_pnpm_version)
  if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "$want" ]; then
    berth_log "installing pnpm $want"
    npm install -g "pnpm@$want" >&2
  fi
  if [ ! -d node_modules ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
    berth_log "installing dependencies (frozen lockfile)"
    pnpm install --frozen-lockfile >&2
  fi
}
