"""Running one command in several processes (`accelerate launch`, torch.distributed): the processes' group and
what they share, the cancel file every process obeys, and the launch command and cluster scripts."""

from .ranks import Ranks, current_ranks, start_ranks

__all__ = ["Ranks", "current_ranks", "start_ranks"]
