"""Two generations in lockstep (trigger on / trigger off) with the first divergent token found."""

from .generation import Generation, TokenStep


class PairedGeneration:
    """Steps both generations in turn; `first_divergence` is the first answer index where they differ."""

    def __init__(self, generations: dict[str, Generation]):
        if len(generations) != 2:
            raise ValueError("a paired generation has exactly two panes")
        self.generations = generations
        self.first_divergence: int | None = None
        self._compared = 0

    @property
    def finished(self) -> bool:
        return all(g.finished for g in self.generations.values())

    def step(self) -> list[tuple[str, TokenStep]]:
        """One token for every unfinished pane."""
        steps = []
        for pane, generation in self.generations.items():
            step = generation.step()
            if step is not None:
                steps.append((pane, step))
        self._update_divergence()
        return steps

    def stop(self) -> None:
        for generation in self.generations.values():
            generation.stop()

    def _update_divergence(self) -> None:
        if self.first_divergence is not None:
            return
        a, b = (g.new_ids for g in self.generations.values())
        while self._compared < min(len(a), len(b)):
            if a[self._compared] != b[self._compared]:
                self.first_divergence = self._compared
                return
            self._compared += 1
        shorter = min(self.generations.values(), key=lambda g: len(g.new_ids))
        longer = max(self.generations.values(), key=lambda g: len(g.new_ids))
        if shorter.finished and len(longer.new_ids) > len(shorter.new_ids):
            self.first_divergence = len(shorter.new_ids)
