"""The paper's experiments as named grids, run end to end and reported beside the paper's numbers."""

from .grids import GRIDS, Cell, grid_cells
from .runner import run_grid

__all__ = ["GRIDS", "Cell", "grid_cells", "run_grid"]
