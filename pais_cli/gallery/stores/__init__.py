"""Content stores: every place that holds model content answers the same small interface."""

from .base import GalleryStore, Progress, Repository, Revision

__all__ = ["GalleryStore", "Progress", "Repository", "Revision"]
