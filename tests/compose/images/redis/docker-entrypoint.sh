#!/bin/sh
# `redis-server …` runs as the redis user with protected mode off, as in the official image.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server --protected-mode no "$@"
fi
exec "$@"
