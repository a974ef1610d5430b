"""Paused and finished generations kept in memory, so an edit can reuse their KV cache."""

from collections import OrderedDict

from ..decoding import Generation
from ..models.loaded import LoadedModel


class LiveGenerations:
    """message id -> Generation, for the most recent `capacity` answers of the current model and adapter.

    A generation is only handed back for the model and adapter it was made with; anything else is
    rebuilt from the database (same tokens, full prefill).
    """

    def __init__(self, capacity: int = 8):
        self.capacity = capacity
        self._items: OrderedDict[int, tuple[tuple, Generation]] = OrderedDict()

    @staticmethod
    def _key(loaded: LoadedModel) -> tuple:
        return id(loaded.model), loaded.adapter

    def put(self, message_id: int, generation: Generation) -> None:
        self._items.pop(message_id, None)
        self._items[message_id] = (self._key(generation.loaded), generation)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def take(self, message_id: int, loaded: LoadedModel) -> Generation | None:
        """Remove and return the live generation of `message_id` if it still matches `loaded`."""
        item = self._items.pop(message_id, None)
        if item is None or item[0] != self._key(loaded) or item[1].loaded is not loaded:
            return None
        return item[1]

    def clear(self) -> None:
        self._items.clear()
