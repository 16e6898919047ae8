#!/usr/bin/env bash
# Build the local test images without any registry:
#   squaremcp/base    debootstrap bookworm root + docker import
#   squaremcp/systemd docker build FROM base
#   squaremcp/dind    docker build FROM systemd (+ docker.io + Compose v2 plugin)
#   squaremcp/stack-postgres, stack-mariadb, stack-redis  docker build FROM base (Debian's servers with
#                     the official images' entry point contract), squaremcp/stack-app (the stand-in for
#                     the application images): what the stacks role deploys in the lab and in Molecule
# Each image is tagged with a hash of its recipe and its parent's image ID, so an unchanged recipe
# reuses the cached image and a changed one rebuilds; `:current` points at the tag in use.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
images=$root/molecule/_shared/images
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${SQUAREMCP_CACHE:-/var/cache/squaremcp}

log() { printf '[images] %s\n' "$*" >&2; }
short_hash() { sha256sum | cut -c1-12; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

build_base() {
  # shellcheck source=/dev/null
  . "$images/base.env"
  local tag
  tag=squaremcp/base:$( (cat "$images/base.env"; echo "$mirror") | short_hash)
  if ! have_image "$tag"; then
    local rootfs tarball=$cache/${tag//[:\/]/_}.tar
    mkdir -p "$cache"
    if [ ! -s "$tarball" ]; then
      rootfs=$(mktemp -d)
      log "debootstrap $SUITE ($VARIANT) into $rootfs"
      debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$rootfs" "$mirror" >/dev/null
      cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb ${mirror%/debian}/debian-security $SUITE-security main
SOURCES
      rm -rf "$rootfs"/var/cache/apt/archives/*.deb
      tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
      rm -rf "$rootfs"
    fi
    log "importing $tag"
    docker import "$tarball" "$tag" >/dev/null
  fi
  docker tag "$tag" squaremcp/base:current
  echo "$tag"
}

build_derived() {  # name parent_tag [extra context files...]
  local name=$1 parent=$2; shift 2
  local dir=$images/$name tag parent_id
  parent_id=$(docker image inspect --format '{{.Id}}' "$parent")
  tag=squaremcp/$name:$( (cat "$dir/Dockerfile"; echo "$parent_id"; for f in "$@"; do sha256sum <"$f"; done) | short_hash)
  if ! have_image "$tag"; then
    local ctx
    ctx=$(mktemp -d)
    cp "$dir/Dockerfile" "$ctx/"
    for f in "$@"; do cp -L "$f" "$ctx/"; done
    log "building $tag"
    docker build -q --build-arg "BASE=$parent" -t "$tag" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  docker tag "$tag" "squaremcp/$name:current"
  echo "$tag"
}

compose_plugin() {
  local p=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose
  [ -e "$p" ] || "$root/tools/docker-engine.sh"
  readlink -f "$p"
}

start=$(date +%s)
base=$(build_base)
systemd=$(build_derived systemd "$base")
dind=$(build_derived dind "$systemd" "$(compose_plugin)")
stack_images=(
  "$(build_derived stack-postgres "$base" "$images/stack-postgres/postgres-entrypoint.sh" "$images/stack-entrypoint-lib.sh")"
  "$(build_derived stack-mariadb "$base" "$images/stack-mariadb/mariadb-entrypoint.sh" "$images/stack-entrypoint-lib.sh")"
  "$(build_derived stack-redis "$base")"
  "$(build_derived stack-app "$base" "$images/stack-app/app_standin.py")"
)
log "ready in $(( $(date +%s) - start ))s: $base $systemd $dind ${stack_images[*]}"
