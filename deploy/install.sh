#!/usr/bin/env bash
# Install kraken2mqtt as a systemd service on Raspberry Pi OS (bookworm) or another systemd distribution.
#
#   sudo deploy/install.sh                    # install or upgrade from this checkout
#   sudo deploy/install.sh --source dist/kraken2mqtt-0.1.0-py3-none-any.whl
#   sudo deploy/install.sh --uninstall [--purge]
#   deploy/install.sh --root /tmp/img --non-interactive    # into a staging root (no root needed)
#
# Safe to run again: the virtualenv is upgraded in place, the unit replaced only when it changed, and the
# config and credentials are never overwritten. See deploy/README.md.
set -euo pipefail
umask 022

NAME=kraken2mqtt
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

ROOT=/
PREFIX=/opt/$NAME
SOURCE=$REPO
PYTHON=python3
API_KEY_FILE=
INTERACTIVE=auto
ACTION=install
PURGE=0
MAKE_VENV=1
START=1

usage() {
  cat <<EOF
Usage: $0 [OPTION]...
Install kraken2mqtt: a virtualenv under PREFIX, the systemd unit, an example config and the credentials
directory. Run it again to upgrade.

  --root DIR          install into DIR instead of / (staging, tests); systemctl is never run then
  --prefix DIR        where the virtualenv goes (default $PREFIX); the unit's ExecStart follows it
  --source PATH       what pip installs: a source directory, wheel or sdist (default: this checkout)
  --python PATH       the interpreter the virtualenv is made from, Python >= 3.11 (default python3)
  --no-venv           do not create or upgrade the virtualenv (unit, config and credentials only)
  --api-key-file FILE take the Kraken API key from FILE instead of asking for it
  --non-interactive   never prompt (also the case when stdin is not a terminal)
  --no-start          enable the service but do not (re)start it
  --uninstall         stop and disable the service, remove the virtualenv and the unit
                      (the config, credentials and state are kept)
  --purge             with --uninstall: also remove /etc/$NAME and the state in /var/lib
  -h, --help          this help
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

while [ $# -gt 0 ]; do
  case $1 in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --root=*) ROOT=${1#*=}; shift ;;
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --source) SOURCE=${2:?--source needs a path}; shift 2 ;;
    --source=*) SOURCE=${1#*=}; shift ;;
    --python) PYTHON=${2:?--python needs a path}; shift 2 ;;
    --python=*) PYTHON=${1#*=}; shift ;;
    --api-key-file) API_KEY_FILE=${2:?--api-key-file needs a file}; shift 2 ;;
    --api-key-file=*) API_KEY_FILE=${1#*=}; shift ;;
    --no-venv) MAKE_VENV=0; shift ;;
    --non-interactive) INTERACTIVE=no; shift ;;
    --no-start) START=0; shift ;;
    --uninstall) ACTION=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

case $PREFIX in
  /*) ;;
  *) die "--prefix must be an absolute path: $PREFIX" ;;
esac
case $PREFIX in
  *[!A-Za-z0-9_./-]*) die "--prefix may only contain letters, digits and _ . / -: $PREFIX" ;;
esac
PREFIX=${PREFIX%/}
if [ -z "$PREFIX" ]; then die "--prefix must not be /"; fi
if [ "$PURGE" = 1 ] && [ "$ACTION" != uninstall ]; then die "--purge goes with --uninstall"; fi

ROOT=${ROOT%/}
if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT: no such directory"
  ROOT=$(cd "$ROOT" && pwd)
  [ "$ROOT" = / ] && ROOT=
fi
# Paths as the running system sees them, and where this script writes them.
VENV=$PREFIX/venv
UNIT_PATH=/etc/systemd/system/$NAME.service
CONF_DIR=/etc/$NAME
CRED_DIR=$CONF_DIR/credentials
MARKER=$PREFIX/.installed-by-kraken2mqtt
at() { printf '%s%s' "$ROOT" "$1"; }

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
  die "installing into / needs root: run it with sudo (or use --root DIR)"
fi
if [ "$INTERACTIVE" = auto ]; then
  if [ -t 0 ]; then INTERACTIVE=yes; else INTERACTIVE=no; fi
fi

# systemctl only for the real system, and only when systemd is running it.
use_systemctl() {
  [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

# --- install ---------------------------------------------------------------------------------------------

make_venv() {
  local venv pip
  venv=$(at "$VENV")
  "$PYTHON" - <<'EOF' || die "$PYTHON is older than Python 3.11 (or not a Python); use --python"
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
EOF
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null \
      || die "$PYTHON cannot create virtualenvs: apt-get install python3-venv"
    say "creating the virtualenv $VENV"
    mkdir -p "$(dirname "$venv")"
    "$PYTHON" -m venv "$venv"
  else
    say "virtualenv $VENV exists: upgrading it"
  fi
  : >"$(at "$MARKER")"
  pip=$venv/bin/pip
  [ -e "$SOURCE" ] || die "--source $SOURCE: not found"
  say "installing $SOURCE into the virtualenv"
  "$pip" install --quiet --disable-pip-version-check --upgrade "$SOURCE"
  [ -x "$venv/bin/$NAME" ] || die "the virtualenv has no bin/$NAME after installing $SOURCE"
}

install_unit() {
  local src dest tmp
  src=$REPO/systemd/$NAME.service
  dest=$(at "$UNIT_PATH")
  [ -f "$src" ] || die "$src: not found"
  mkdir -p "$(dirname "$dest")"
  tmp=$(mktemp "$dest.XXXXXX")
  # The unit names /opt/kraken2mqtt/venv; point it at PREFIX.
  sed "s|/opt/$NAME/venv/|$VENV/|g" "$src" >"$tmp"
  chmod 0644 "$tmp"
  if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
    say "unit $UNIT_PATH unchanged"
  else
    mv -f "$tmp" "$dest"
    say "installed the unit $UNIT_PATH"
  fi
}

install_config() {
  local dest
  mkdir -p "$(at "$CONF_DIR")"
  chmod 0755 "$(at "$CONF_DIR")"
  dest=$(at "$CONF_DIR/$NAME.toml")
  if [ -e "$dest" ]; then
    say "config $CONF_DIR/$NAME.toml exists: kept"
  else
    install -m 0644 "$REPO/config/$NAME.example.toml" "$dest"
    say "installed the example config $CONF_DIR/$NAME.toml: edit it"
  fi
}

# Write a secret to a 0600 file without it ever being on a command line or the terminal.
write_secret() {
  local dest=$1 value=$2 tmp
  tmp=$(umask 077 && mktemp "$dest.XXXXXX")
  printf '%s\n' "$value" >"$tmp"
  chmod 0600 "$tmp"
  mv -f "$tmp" "$dest"
}

has_content() { [ -s "$1" ] && grep -q '[^[:space:]]' "$1"; }

# ask_secret PROMPT -> REPLY. Echo goes off before the prompt is shown, so nothing typed (even ahead) shows.
ask_secret() {
  REPLY=
  SAVED_TTY=$(stty -g </dev/tty)
  trap 'stty "$SAVED_TTY" </dev/tty' EXIT
  trap 'exit 130' INT TERM
  stty -echo </dev/tty
  printf '%s' "$1" >/dev/tty
  IFS= read -r REPLY </dev/tty || REPLY=
  stty "$SAVED_TTY" </dev/tty
  trap - EXIT INT TERM
  echo >/dev/tty
}

install_credentials() {
  local dir key file
  dir=$(at "$CRED_DIR")
  mkdir -p "$dir"
  chmod 0700 "$dir"
  for file in "$dir"/*; do  # tighten anything loosened by hand
    if [ -f "$file" ]; then chmod 0600 "$file"; fi
  done
  file=$dir/kraken_api_key
  if [ -n "$API_KEY_FILE" ]; then
    [ -r "$API_KEY_FILE" ] || die "--api-key-file $API_KEY_FILE: cannot read it"
    key=$(tr -d '[:space:]' <"$API_KEY_FILE")
    [ -n "$key" ] || die "--api-key-file $API_KEY_FILE is empty"
    write_secret "$file" "$key"
    say "stored the Kraken API key in $CRED_DIR/kraken_api_key"
  elif has_content "$file"; then
    say "credential kraken_api_key present: kept"
  elif [ "$INTERACTIVE" = yes ]; then
    ask_secret "Kraken API key (from your supplier's developer settings; empty to skip): "
    key=$(printf '%s' "$REPLY" | tr -d '[:space:]')
    if [ -n "$key" ]; then
      write_secret "$file" "$key"
      say "stored the Kraken API key in $CRED_DIR/kraken_api_key"
    fi
    if ! has_content "$dir/mqtt_password"; then
      ask_secret "MQTT password (empty if the broker needs none): "
      if [ -n "$REPLY" ]; then
        write_secret "$dir/mqtt_password" "$REPLY"
        say "stored the MQTT password in $CRED_DIR/mqtt_password"
      fi
    fi
  fi
  if ! has_content "$file"; then
    say "no Kraken API key yet: put it in $CRED_DIR/kraken_api_key (mode 0600), or use email and password"
  fi
  REPLY=
}

systemd_install() {
  if ! use_systemctl; then
    [ -n "$ROOT" ] || say "systemd is not running: enable the service yourself (systemctl enable --now $NAME)"
    return 0
  fi
  systemctl daemon-reload
  systemctl enable --quiet "$NAME.service"
  say "enabled $NAME.service"
  [ "$START" = 1 ] || return 0
  # Without any Kraken login it would only stop with a configuration error.
  if ! has_content "$(at "$CRED_DIR/kraken_api_key")" \
      && ! grep -Eq '^[[:space:]]*(api_key|email)[[:space:]]*=' "$(at "$CONF_DIR/$NAME.toml")"; then
    say "not started: no Kraken API key yet; when it is in place run: systemctl start $NAME"
    return 0
  fi
  # --no-block: it reports ready only once it has reached the MQTT broker.
  systemctl restart --no-block "$NAME.service"
  say "(re)started $NAME.service: follow it with journalctl -fu $NAME"
}

do_install() {
  if [ "$MAKE_VENV" = 1 ]; then make_venv; else say "skipping the virtualenv (--no-venv)"; fi
  install_unit
  install_config
  install_credentials
  systemd_install
  say "done"
}

# --- uninstall -------------------------------------------------------------------------------------------

do_uninstall() {
  local venv_dir
  if use_systemctl; then
    systemctl disable --now --quiet "$NAME.service" 2>/dev/null || true
  fi
  if [ -e "$(at "$UNIT_PATH")" ]; then
    rm -f "$(at "$UNIT_PATH")"
    say "removed the unit $UNIT_PATH"
  fi
  if use_systemctl; then systemctl daemon-reload; fi
  venv_dir=$(at "$PREFIX")
  if [ -e "$venv_dir/.installed-by-kraken2mqtt" ]; then
    rm -rf "$venv_dir"
    say "removed $PREFIX"
  elif [ -e "$venv_dir" ]; then
    say "$PREFIX was not made by this installer (no marker file): left alone"
  fi
  if [ "$PURGE" = 1 ]; then
    rm -rf "$(at "$CONF_DIR")" "$(at /var/lib/$NAME)" "$(at /var/lib/private/$NAME)"
    say "purged $CONF_DIR (config and credentials) and /var/lib/$NAME (state)"
  else
    say "kept $CONF_DIR (config and credentials); --purge removes them and the state too"
  fi
  say "done"
}

case $ACTION in
  install) do_install ;;
  uninstall) do_uninstall ;;
esac
