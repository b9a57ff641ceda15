#!/usr/bin/env bash
# Everything a fresh machine (Debian bookworm, as root) needs before labctl
# runs: host tools, the Python package, a Docker engine and the lab images.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Host tools: the engine, debootstrap for the base image, and the clients the
# tests and students use from the host (tshark/tcpdump for captures, swaks, dig),
# the browser the class report is tested in (Playwright's driver needs libatomic1),
# and mkfs.ext4/findmnt for the test that mounts an ext4 with a journal.
need=()
for pair in dockerd:docker.io debootstrap:debootstrap tshark:tshark tcpdump:tcpdump swaks:swaks dig:bind9-dnsutils docker-compose:docker-compose chromium-headless-shell:chromium-headless-shell mkfs.ext4:e2fsprogs findmnt:util-linux; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
dpkg -s libatomic1 >/dev/null 2>&1 || need+=(libatomic1)
# certutil: the webmail's browser test makes Chromium trust the lab CA (an NSS database).
dpkg -s libnss3-tools >/dev/null 2>&1 || need+=(libnss3-tools)
if [ "${#need[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# pip's own failure stops here (the filter below may match nothing: its status is not pip's).
if ! pip_output=$(python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1); then
  printf '%s\n' "$pip_output" >&2
  echo "bootstrap: installing labctl failed (pip install -e '.[test]', above); nothing else was done" >&2
  exit 1
fi
printf '%s\n' "$pip_output" | grep -v -e 'Running pip as' -e 'is ignored' -e '^$' >&2 || true

scripts/ensure-docker.sh
labctl images build
