#!/usr/bin/env bash
# Makes sure a Chromium for the end-to-end tests exists. On Debian/Ubuntu it installs the distribution's
# `chromium` package (Playwright's own browser download is not used: it needs the internet).
set -euo pipefail
browser="${MOMENTSCOPE_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else sudo="none"; fi
  if [ "$sudo" != none ]; then
    echo "Installing Debian's chromium for the browser tests..."
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    [ -x /usr/bin/chromium ] && exit 0
  fi
fi
cat >&2 <<MSG
No Chromium found at $browser, and it could not be installed here.
The end-to-end tests drive a real Chromium. Install one with your package manager
(Debian/Ubuntu: 'sudo apt-get install chromium'), or point MOMENTSCOPE_CHROMIUM at a Chromium or Chrome
binary, then run 'make test' again.
MSG
exit 1
