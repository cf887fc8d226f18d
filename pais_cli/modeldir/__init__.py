"""A model directory on disk: one snapshot of its files, their digests and its download records."""
