"""Distillation: one feature where overlapping tiles and regions saw the same object."""

from tessera.distillation.nms import nms, overlapping_pairs, soft_nms

__all__ = ["nms", "overlapping_pairs", "soft_nms"]
