"""Synthetic overhead scenes with ground truth, for demos and accuracy tests."""

from tessera.synthetic.scene import Scene, SceneConfig, Ship, fit_rpc, generate_scene, write_scene

__all__ = ["Scene", "SceneConfig", "Ship", "fit_rpc", "generate_scene", "write_scene"]
