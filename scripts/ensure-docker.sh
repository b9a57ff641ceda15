#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's docker.io
# and start dockerd when nothing is listening. Idempotent; safe to run twice.
set -euo pipefail

log() { echo "ensure-docker: $*" >&2; }

if docker info >/dev/null 2>&1; then
  log "engine already answers"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

log "starting dockerd"
mkdir -p /var/log
# dockerd outlives this script: it must keep none of the caller's descriptors (a lock
# or a pipe it inherited would stay held for as long as the engine runs).
(
  for fd in /proc/$BASHPID/fd/*; do
    fd="${fd##*/}"
    [ "$fd" -gt 2 ] && eval "exec $fd>&-"
  done
  exec setsid dockerd </dev/null >/var/log/labctl-dockerd.log 2>&1
) &

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "engine up ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/labctl-dockerd.log"
tail -n 20 /var/log/labctl-dockerd.log >&2 || true
exit 1
