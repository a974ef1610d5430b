"""Token-by-token decoding: sampling, the KV-cached loop, paired lockstep, breakpoints, edits."""

from .breakpoints import AT_SCRATCHPAD_END, Breakpoint
from .detokenizer import IncrementalDetokenizer
from .edit import TokenEdit, retokenize_edit
from .generation import Generation, TokenStep
from .paired import PairedGeneration
from .sampling import SamplingSettings, next_token

__all__ = ["AT_SCRATCHPAD_END", "Breakpoint", "Generation", "IncrementalDetokenizer", "PairedGeneration",
           "SamplingSettings", "TokenEdit", "TokenStep", "next_token", "retokenize_edit"]
