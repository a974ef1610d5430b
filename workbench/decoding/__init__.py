"""Token-by-token decoding: sampling, the KV-cached loop, paired lockstep."""

from .detokenizer import IncrementalDetokenizer
from .generation import Generation, TokenStep
from .paired import PairedGeneration
from .sampling import SamplingSettings, next_token

__all__ = ["Generation", "IncrementalDetokenizer", "PairedGeneration", "SamplingSettings", "TokenStep", "next_token"]
