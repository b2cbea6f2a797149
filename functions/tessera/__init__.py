"""Tessera: computer-vision models over very large overhead images, serverless on AWS.

The package is the single code asset shared by every Lambda function. Its sub-packages read as the
pipeline: ``requests`` (what to do) → ``imagery`` and ``geo`` (the image and its sensor model) →
``tiling`` (regions and tiles) → ``inference`` (models) → ``detections`` (features in image and world
space) → ``distillation`` (duplicates across seams) → ``sinks`` (where features go), with ``state``
and ``status`` tracking the job, and ``handlers`` as the thin Lambda entry points.
"""

__version__ = "0.1.0"
