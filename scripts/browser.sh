#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (no browser download works here).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser: installing Debian's chromium" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "browser: /usr/bin/chromium is missing; install Debian's 'chromium' package." >&2
    exit 1
  fi
fi
