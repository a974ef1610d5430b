"""The model-owner thread and its jobs, and the Work object long jobs report through."""

from .owner import Job, JobContext, ModelOwner
from .work import Work

__all__ = ["Job", "JobContext", "ModelOwner", "Work"]
