#!/usr/bin/env bash
# Makes sure the end-to-end tests have a Chromium and fonts for Chinese, Japanese and emoji. On Debian/Ubuntu
# it installs the distribution's `chromium`, `fonts-noto-cjk` and `fonts-noto-color-emoji` packages
# (Playwright's own browser download is not used: it needs the internet). Without the fonts the pages still
# hold the right characters, but a screenshot shows empty boxes where they are.
set -euo pipefail
browser="${MOMENTSCOPE_CHROMIUM:-/usr/bin/chromium}"
missing=()
[ -x "$browser" ] || missing+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
fc-list 2>/dev/null | grep -qi "emoji" || missing+=(fonts-noto-color-emoji)
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else sudo="none"; fi
  if [ "$sudo" != none ]; then
    echo "Installing Debian's ${missing[*]} for the browser tests..."
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    [ -x "$browser" ] && exit 0
  fi
fi
if [ -x "$browser" ]; then
  echo "Note: could not install ${missing[*]}; Chinese, Japanese or emoji may show as boxes in screenshots." >&2
  exit 0
fi
cat >&2 <<MSG
No Chromium found at $browser, and it could not be installed here.
The end-to-end tests drive a real Chromium. Install one with your package manager
(Debian/Ubuntu: 'sudo apt-get install chromium fonts-noto-cjk fonts-noto-color-emoji'), or point
MOMENTSCOPE_CHROMIUM at a Chromium or Chrome binary, then run 'make test' again.
MSG
exit 1
