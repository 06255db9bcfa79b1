#!/usr/bin/env bash
# Screenshot LayerLoom in a real window under Xvfb, started as a user starts it.
#   tools/screenshot.sh OUT.png [seconds] -- [layerloom gui arguments...]
# Needs: apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick xdotool
set -euo pipefail
out=$1; wait_s=${2:-6}; shift 2 || true
[ "${1:-}" = "--" ] && shift
here=$(cd "$(dirname "$0")/.." && pwd)
export LAYERLOOM_HOME=$(mktemp -d)  # fresh settings: default layout, no recovery prompt
xvfb-run -a -s '-screen 0 1600x1000x24' bash -c "
  '$here/.venv/bin/layerloom' gui $* &
  app=\$!
  sleep $wait_s
  win=\$(xdotool search --onlyvisible --name 'LayerLoom' 2>/dev/null | head -1)
  if [ -n \"\$win\" ]; then import -window \"\$win\" '$out'; else import -window root '$out'; fi
  kill \$app 2>/dev/null || true
"
rm -rf "$LAYERLOOM_HOME"
echo "wrote $out"
