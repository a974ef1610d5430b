#!/usr/bin/env bash
# Qt (PySide6) needs a few system libraries. Install them from Debian only when they are missing.
# The offscreen platform (tests, CI) needs the first set; a real X11 desktop (the xcb platform) also needs the
# xcb set. A machine without the xcb libraries still runs offscreen, so failing to install them only warns.
set -u
PY=${PY:-.venv/bin/python}
PKGS="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libglib2.0-0 libdbus-1-3 fonts-dejavu-core fontconfig"
XCB_PKGS="libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0"

offscreen_ok() {
  QT_QPA_PLATFORM=offscreen "$PY" -c "from PySide6 import QtGui, QtWidgets" >/dev/null 2>&1 &&
    command -v fc-list >/dev/null && [ -n "$(fc-list 2>/dev/null | head -1)" ]
}

xcb_ok() {  # every library the xcb platform plugin links against is found (no display needed to check)
  [ "$(uname -s)" = Linux ] || return 0
  local qt
  qt=$("$PY" -c "import os, PySide6; print(os.path.join(os.path.dirname(PySide6.__file__), 'Qt'))" 2>/dev/null) || return 1
  [ -e "$qt/plugins/platforms/libqxcb.so" ] || return 0
  ! ldd "$qt/plugins/platforms/libqxcb.so" "$qt"/lib/libQt6XcbQpa.so* 2>/dev/null | grep -q "not found"
}

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

if ! offscreen_ok; then
  if can_apt; then
    echo "Installing system libraries for Qt: $PKGS"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PKGS >/dev/null || exit 1
  else
    echo "Qt needs these system libraries (install them with your package manager): $PKGS" >&2
  fi
fi
if ! xcb_ok; then
  if can_apt && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $XCB_PKGS >/dev/null; }; then
    echo "Installed the X11 (xcb) libraries Qt needs on a desktop: $XCB_PKGS"
  else
    echo "warning: the window needs these X11 libraries on a desktop (offscreen runs without them): $XCB_PKGS" >&2
  fi
fi
exit 0
