#!/usr/bin/env bash
# Debian packages some tests use: PostgreSQL (Dagster instance storage test), Redis (the Celery executor's broker),
# Chromium (the UI browser test). Tests that need a package that is
# missing skip with a visible reason, so this is optional on a developer machine; CI runs it first.
set -uo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || command -v initdb >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null 2>&1; } \
      || echo "could not install ${need[*]}: the tests that need them will skip and say so"
  else
    echo "missing ${need[*]} and no root apt-get: the tests that need them will skip and say so"
  fi
fi
# The packaged servers autostart on some systems; tests start their own on 127.0.0.1 only.
exit 0
