#!/usr/bin/env bash
# Qt (PySide6) needs a few system libraries. Install them from Debian only when they are missing.
set -u
PY=${PY:-.venv/bin/python}
if QT_QPA_PLATFORM=offscreen "$PY" -c "from PySide6 import QtGui, QtWidgets" >/dev/null 2>&1 && command -v fc-list >/dev/null && [ -n "$(fc-list 2>/dev/null | head -1)" ]; then
  exit 0
fi
PKGS="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libglib2.0-0 libdbus-1-3 fonts-dejavu-core fontconfig"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing system libraries for Qt: $PKGS"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PKGS >/dev/null
else
  echo "Qt needs these system libraries (install them with your package manager): $PKGS" >&2
fi
