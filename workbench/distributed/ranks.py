"""The processes one command runs in: one (the default) or several started by `accelerate launch` (torchrun
under it), joined through torch.distributed by accelerate's PartialState (gloo on CPU, nccl on GPU).

Every process runs the same command (the SPMD style accelerate scripts use). Training steps split each global
batch between the processes and sum their gradients, so a step is the step one process takes on the whole batch;
generation deals its batches out and gathers the answers, so every process holds every answer; only the main
process (rank 0) writes the run folder, the organism and the database rows.
"""

import datetime
import math
import os
from dataclasses import dataclass
from typing import Callable, TypeVar

from ..errors import Cancelled, WorkbenchError

T = TypeVar("T")
R = TypeVar("R")

# a process waits this long for the others at a collective before it gives up (a long evaluation on one side)
TIMEOUT = datetime.timedelta(hours=6)
BUCKET = 64 * 2**20  # elements per flat buffer when gradients or weights are summed or sent


@dataclass(frozen=True)
class Ranks:
    """This process's place among the command's processes; every method is a no-op cost in a single process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1  # processes on this machine
    sharding: object | None = None  # sharding.Sharding when the launch asks for FSDP

    @property
    def sharded(self) -> bool:
        """The weights are sharded over the processes: every forward pass is taken by all of them together."""
        return self.several and self.sharding is not None

    @property
    def main(self) -> bool:
        """The process that writes (rank 0)."""
        return self.rank == 0

    @property
    def several(self) -> bool:
        return self.world > 1

    def check_batch(self, batch_size: int) -> None:
        """A clear error when the global batch does not split evenly over the processes."""
        if self.several and batch_size % self.world:
            raise WorkbenchError(f"--batch-size {batch_size} does not split evenly over {self.world} processes: use a "
                                 f"multiple of {self.world} (the batch is the global batch, the same as in one process)")

    # agreement --------------------------------------------------------------------------------------------
    def sum(self, value: float) -> float:
        """`value` summed over the processes."""
        if not self.several:
            return value
        import torch
        import torch.distributed as dist

        t = torch.tensor([float(value)], dtype=torch.float64, device=self._device())
        dist.all_reduce(t)
        return float(t.item())

    def any(self, flag: bool) -> bool:
        """True on every process when any process says True (a cancel asked on one stops all)."""
        return self.sum(1.0 if flag else 0.0) > 0 if self.several else bool(flag)

    def from_main(self, compute: Callable[[], T]) -> T:
        """What `compute()` gives on the main process, on every process (the others do not call it)."""
        if not self.several:
            return compute()
        import torch.distributed as dist

        box = [compute() if self.main else None]
        dist.broadcast_object_list(box, src=0, device=self._device())
        return box[0]

    def gather(self, value: T) -> list[T]:
        """Every process's `value`, in rank order, on every process."""
        if not self.several:
            return [value]
        import torch.distributed as dist

        out: list = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.several:
            import torch.distributed as dist

            dist.barrier()

    # sharing work -----------------------------------------------------------------------------------------
    def share(self, items: list[T]) -> list[T]:
        """This process's contiguous share of `items` (empty when there are fewer items than processes)."""
        if not self.several:
            return items
        size = math.ceil(len(items) / self.world)
        return items[self.rank * size:(self.rank + 1) * size]

    def spread(self, items: list[T], work: Callable[[T], R], should_stop: Callable[[], bool] = lambda: False,
               done: Callable[[int], None] = lambda n: None) -> list[R]:
        """`work(item)` for every item, the items dealt out round-robin, the results gathered in order on every
        process. The processes check `should_stop` together before each round, so a cancel stops them all."""
        results: dict[int, R] = {}
        for start in range(0, len(items), self.world):
            if self.any(should_stop()):
                raise Cancelled()
            index = start + self.rank
            if index < len(items):
                results[index] = work(items[index])
            elif self.sharded:  # its forward passes are the others' too: the last item again, the result dropped
                work(items[-1])
            done(min(start + self.world, len(items)))
        if not self.several:
            return [results[i] for i in range(len(items))]
        merged: dict[int, R] = {}
        for part in self.gather(results):
            merged.update(part)
        return [merged[i] for i in range(len(items))]

    def alone(self, should_stop: Callable[[], bool]) -> Callable[[], bool]:
        """`should_stop` for a check one process makes by itself (inside a batch): under several processes
        never, since they stop together between rounds (`spread`), not one of them mid-way."""
        return should_stop if not self.several else (lambda: False)

    # gradients --------------------------------------------------------------------------------------------
    def sum_gradients(self, params: list) -> None:
        """Sum every parameter's gradient over the processes (a process that had no examples adds zeros)."""
        if not self.several:
            return
        import torch
        import torch.distributed as dist

        grads = []
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        self._reduce_flat(grads, lambda flat: dist.all_reduce(flat))

    def _reduce_flat(self, tensors: list, collective) -> None:
        """Run `collective` on `tensors` in flat fp32 buckets on this process's device (a model split over
        several GPUs has them on each; a bucket keeps the extra memory small when every weight trains)."""
        import torch

        device, bucket, size = self._device(), [], 0

        def flush():
            if not bucket:
                return
            flat = torch.cat([t.reshape(-1).float().to(device) for t in bucket])
            collective(flat)
            offset = 0
            for t in bucket:
                t.copy_(flat[offset:offset + t.numel()].view_as(t).to(t.device, t.dtype))
                offset += t.numel()
            bucket.clear()

        for t in tensors:
            bucket.append(t)
            size += t.numel()
            if size >= BUCKET:
                flush()
                size = 0
        flush()

    def same_parameters(self, params: list) -> None:
        """Every process starts from the main process's values of `params`."""
        if not self.several:
            return
        import torch.distributed as dist

        self._reduce_flat([p.data for p in params], lambda flat: dist.broadcast(flat, src=0))

    def _device(self):
        import torch

        if torch.distributed.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def describe(self) -> str:
        return f"process {self.rank + 1} of {self.world}"


_current = Ranks()

_LOST = ("connection reset", "connection closed", "broken pipe", "timed out", "nccl", "gloo")


def lost_process(exc: BaseException) -> bool:
    """Whether `exc` is a collective failing because another process of the launch stopped (it died, its node
    went down, or it was killed), as torch.distributed reports it under several processes."""
    if not current_ranks().several:
        return False
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    return isinstance(exc, RuntimeError) and any(word in str(exc).lower() for word in _LOST)


def current_ranks() -> Ranks:
    """The processes of this command (one unless `start_ranks` joined several)."""
    return _current


def launched_world() -> int:
    """How many processes the launcher says this command runs in (1 when it was not launched)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def start_ranks(cpu: bool = False) -> Ranks:
    """Join the other processes `accelerate launch` started (nothing to do when there are none); `cpu`: this
    command runs on the CPU even where there are GPUs (gloo)."""
    global _current
    if _current.several or launched_world() <= 1:
        return _current
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true", "yes"):
        from .launch import DEEPSPEED_REFUSED

        raise WorkbenchError(DEEPSPEED_REFUSED)  # it would run as something else than the user's config says
    from .sharding import sharding_from_env

    sharding = sharding_from_env()
    import torch
    from accelerate import PartialState

    try:
        state = PartialState(cpu=cpu or not torch.cuda.is_available(), timeout=TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - a launcher or network problem, told in one line
        raise WorkbenchError(f"Could not join the other processes of this launch: {exc}") from None
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "0") or 0) or state.num_processes
    _current = Ranks(rank=state.process_index, world=state.num_processes, local_rank=state.local_process_index,
                     local_world=local_world, sharding=sharding)
    return _current


def gpus_of_process(local_rank: int, local_world: int, gpus: int) -> list[int]:
    """The GPUs one process of a machine owns: the machine's GPUs shared out in equal contiguous groups (8 GPUs,
    2 processes: 0-3 and 4-7), so that each process can hold a model split over its group."""
    if gpus < local_world:
        raise WorkbenchError(f"{local_world} processes on this machine but {gpus} GPUs: launch at most one process "
                             "per GPU")
    if gpus % local_world:
        raise WorkbenchError(f"{gpus} GPUs do not split evenly over {local_world} processes: launch a number of "
                             "processes that divides the GPU count")
    size = gpus // local_world
    return list(range(local_rank * size, (local_rank + 1) * size))


def process_gpus() -> list[int] | None:
    """This process's GPUs under several processes on a GPU machine (None otherwise: every GPU is this one's)."""
    ranks = current_ranks()
    if not ranks.several:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return gpus_of_process(ranks.local_rank, ranks.local_world, torch.cuda.device_count())


def device_for_rank(device: str | None) -> str | None:
    """The device this process loads onto: under several processes on GPUs, the first GPU of its group (a model
    larger than one GPU is split over the group, see models.loading.device_map_for)."""
    if device not in (None, "cuda", "auto"):
        return device
    gpus = process_gpus()
    if gpus is None:
        return device
    import torch

    torch.cuda.set_device(gpus[0])
    return f"cuda:{gpus[0]}"
