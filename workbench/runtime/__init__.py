"""The model-owner thread and its jobs."""

from .owner import Job, JobContext, ModelOwner

__all__ = ["Job", "JobContext", "ModelOwner"]
