#!/usr/bin/env bash
# Make a Docker engine and the Compose v2 CLI plugin available on this machine, offline:
# Debian's docker.io (+ debootstrap for the image builds), dockerd started by hand when there is
# no systemd, and Debian trixie's docker-compose 2.x unpacked as a CLI plugin.
set -euo pipefail

compose_version=${COMPOSE_DEB_VERSION:-2.26.1-4}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
plugin_dir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
cache=${SQUAREMCP_CACHE:-/var/cache/squaremcp}

log() { printf '[docker-engine] %s\n' "$*" >&2; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v iptables >/dev/null || missing+=(iptables)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up, see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi

if ! docker compose version >/dev/null 2>&1; then
  deb=$cache/docker-compose_${compose_version}_amd64.deb
  if [ ! -s "$deb" ]; then
    log "downloading Debian trixie docker-compose $compose_version"
    apt_dir=$(mktemp -d)
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$cache"
    echo "deb $mirror trixie main" >"$apt_dir/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
          -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update -qq
    (cd "$apt_dir" && apt-get "${opts[@]}" download "docker-compose=$compose_version" >/dev/null)
    mv "$apt_dir"/docker-compose_*.deb "$deb"
    rm -rf "$apt_dir"
  fi
  unpack=$cache/docker-compose-$compose_version
  [ -x "$unpack/usr/libexec/docker/cli-plugins/docker-compose" ] || dpkg -x "$deb" "$unpack"
  mkdir -p "$plugin_dir"
  ln -sf "$unpack/usr/libexec/docker/cli-plugins/docker-compose" "$plugin_dir/docker-compose"
fi
log "$(docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}})'), $(docker compose version --short | sed 's/^/compose /')"
