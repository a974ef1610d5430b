"""Looking inside the model: the logit lens (what each layer would predict)."""

from .logit_lens import LensGrid, answer_lens, logit_lens

__all__ = ["LensGrid", "answer_lens", "logit_lens"]
