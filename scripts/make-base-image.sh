#!/usr/bin/env bash
# Build the lab base image (Debian bookworm, minbase) offline: no registry is
# reachable here, so the root filesystem comes from debootstrap over Debian's
# plain-http mirror and is turned into an image with `docker import`.
# Usage: make-base-image.sh [TAG]   (default labctl/base:bookworm)
set -euo pipefail

tag="${1:-labctl/base:bookworm}"
mirror="${LABCTL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "make-base-image: $tag already present" >&2
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq debootstrap >/dev/null
fi

root="$(mktemp -d /var/tmp/labctl-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT

echo "make-base-image: debootstrap bookworm into $root" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >/var/tmp/labctl-debootstrap.log 2>&1 || {
  tail -n 20 /var/tmp/labctl-debootstrap.log >&2; exit 1; }

# Keep images small and apt quiet inside builds.
cat >"$root/etc/apt/apt.conf.d/90labctl" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
APT
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
echo "deb $mirror bookworm-updates main" >>"$root/etc/apt/sources.list"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$tag" >/dev/null
echo "make-base-image: built $tag" >&2
