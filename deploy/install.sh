#!/usr/bin/env bash
# Installs or upgrades the Keyway agent on a controller, from an unpacked keyway-agent-<version>-<target> folder.
#
#   sudo ./install.sh              first install, or upgrade of an existing install
#   sudo ./install.sh --rollback   switch back to the release that was current before the last upgrade
#
# Options:
#   --root DIR   lay the files out under DIR instead of / and touch no users or services (image building, tests)
#   --no-start   install and enable, but do not (re)start the service
#   --force      install even when this machine's architecture does not match the release
#
# Layout: /opt/keyway/releases/<version>-<target>/ (executable, native/, prebuilds/), /opt/keyway/current -> the
# running release, /opt/keyway/previous (name of the one before), /etc/keyway/agent.json (config, never overwritten),
# /var/lib/keyway (agent.db: the outbox, grants, trusted time; never removed; copied to backups/ before upgrades).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root=""
start=1
rollback=0
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --no-start) start=0; shift ;;
    --rollback) rollback=1; shift ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

opt="$root/opt/keyway"
etc="$root/etc/keyway"
state="$root/var/lib/keyway"
unit_dir="$root/etc/systemd/system"
service=keyway-agent
# With --root nothing outside DIR is touched: no users, no systemctl.
system=1
[ -n "$root" ] && system=0

say() { printf 'keyway install: %s\n' "$*"; }
die() { printf 'keyway install: %s\n' "$*" >&2; exit 1; }
systemctl_() { if [ "$system" = 1 ]; then systemctl "$@"; fi; }

if [ "$system" = 1 ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo ./install.sh), or pass --root DIR to stage files"; fi

switch_to() { # atomically point current at releases/$1 and restart
  local release="$1"
  ln -sfn "releases/$release" "$opt/current.new"
  mv -T "$opt/current.new" "$opt/current"
}

wait_active() { # the agent reports ready (Type=notify) or systemd gives up
  local i
  for i in $(seq 1 30); do
    if systemctl is-active --quiet "$service"; then return 0; fi
    if systemctl is-failed --quiet "$service"; then return 1; fi
    sleep 1
  done
  return 1
}

if [ "$rollback" = 1 ]; then
  [ -f "$opt/previous" ] || die "no previous release recorded in $opt/previous; nothing to roll back to"
  prev="$(cat "$opt/previous")"
  [ -d "$opt/releases/$prev" ] || die "previous release $prev is no longer in $opt/releases"
  cur="$(basename "$(readlink "$opt/current")")"
  systemctl_ stop "$service"
  switch_to "$prev"
  echo "$cur" > "$opt/previous"
  say "rolled back from $cur to $prev (agent.db kept as is; backups of it are in $state/backups)"
  if [ "$start" = 1 ]; then systemctl_ start "$service"; fi
  exit 0
fi

# 1. The release must be complete and unmodified.
[ -f "$here/SHA256SUMS" ] && [ -f "$here/VERSION" ] || die "run this from an unpacked keyway-agent-<version>-<target> folder (SHA256SUMS and VERSION missing)"
(cd "$here" && sha256sum --quiet --strict -c SHA256SUMS) || die "checksums in $here do not match; download and unpack the tarball again"
read -r version target _ < "$here/VERSION"
release="$version-$target"

if [ "$system" = 1 ] && [ "$force" = 0 ]; then
  case "$(uname -m)" in
    aarch64|arm64) machine=linux-arm64 ;;
    x86_64) machine=linux-x64 ;;
    *) machine="linux-$(uname -m)" ;;
  esac
  [ "$machine" = "$target" ] || die "this release is for $target but this machine is $machine; use the $machine tarball (or --force)"
fi

# 2. The unprivileged user, in the groups that own GPIO and serial devices.
if [ "$system" = 1 ]; then
  getent group gpio >/dev/null || groupadd --system gpio
  getent group dialout >/dev/null || groupadd --system dialout
  id keyway >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/keyway --no-create-home --shell /usr/sbin/nologin keyway
  usermod -a -G gpio,dialout keyway
fi

# 3. The release folder, copied whole then renamed, so a power cut never leaves half a release behind `current`.
mkdir -p "$opt/releases"
tmp="$opt/releases/.$release.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
for f in keyway-agent native prebuilds VERSION SHA256SUMS README.md agent.example.json keyway-agent.service; do
  if [ -e "$here/$f" ]; then cp -a "$here/$f" "$tmp/"; fi
done
prev=""
if [ -L "$opt/current" ]; then prev="$(basename "$(readlink "$opt/current")")"; fi
if [ "$prev" = "$release" ]; then
  # Reinstalling the running release: replace its files in place after stopping it.
  systemctl_ stop "$service"
fi
rm -rf "$opt/releases/$release"
mv "$tmp" "$opt/releases/$release"

# 4. Config and state: created once, never overwritten or removed by an install or upgrade.
mkdir -p "$etc" "$state"
if [ ! -e "$etc/agent.json" ]; then
  cp "$here/agent.example.json" "$etc/agent.json"
  chmod 0640 "$etc/agent.json"
  say "wrote $etc/agent.json from the example: set deviceId, broker and the hub key before starting"
  start_hint=1
else
  start_hint=0
fi
if [ "$system" = 1 ]; then
  chown root:keyway "$etc" "$etc/agent.json"
  chmod 0750 "$etc"
  chown keyway:keyway "$state"
  chmod 0750 "$state"
fi

# 5. Upgrade: stop the old release, copy the outbox database aside (consistent while stopped), switch.
if [ -n "$prev" ] && [ "$prev" != "$release" ]; then
  systemctl_ stop "$service"
  if [ -f "$state/agent.db" ]; then
    backup="$state/backups/$prev-$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$backup"
    for f in agent.db agent.db-wal agent.db-shm; do
      if [ -f "$state/$f" ]; then cp -p "$state/$f" "$backup/"; fi
    done
    # Keep the three newest backups.
    ls -1d "$state/backups"/*/ 2>/dev/null | sort | head -n -3 | xargs -r rm -rf
    say "copied agent.db to $backup"
  fi
  echo "$prev" > "$opt/previous"
fi
switch_to "$release"

# Keep the current and previous releases; older ones go.
keep_prev=""
[ -f "$opt/previous" ] && keep_prev="$(cat "$opt/previous")"
for d in "$opt/releases"/*/; do
  name="$(basename "$d")"
  if [ "$name" != "$release" ] && [ "$name" != "$keep_prev" ]; then rm -rf "$d"; fi
done

# 6. The unit.
mkdir -p "$unit_dir"
install -m 0644 "$here/keyway-agent.service" "$unit_dir/$service.service"
systemctl_ daemon-reload
systemctl_ enable "$service" >/dev/null

say "installed $release (previous: ${prev:-none})"
if [ "$system" = 1 ] && [ "$start" = 1 ]; then
  if [ "$start_hint" = 1 ]; then
    say "not starting: edit $etc/agent.json first, then: systemctl start $service"
    exit 0
  fi
  systemctl restart "$service"
  if ! wait_active; then
    if [ -n "$prev" ] && [ "$prev" != "$release" ]; then
      say "$release did not become active; rolling back to $prev (journalctl -u $service says why)"
      systemctl stop "$service" || true
      switch_to "$prev"
      echo "$release" > "$opt/previous"
      systemctl start "$service"
    fi
    die "$release did not start; see journalctl -u $service"
  fi
  say "$service is running"
fi
