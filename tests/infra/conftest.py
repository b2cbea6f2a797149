"""Synthesize the app once per session, with empty stand-ins for the built layers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cdk_context(tmp: Path, **overrides: Any) -> dict[str, Any]:
    """cdk.json's context with the layers pointed at empty folders (tests need not copy 130 MB)."""
    from infra.constructs.layers import LAYER_NAMES

    for name in LAYER_NAMES:
        (tmp / "layers" / name / "python").mkdir(parents=True, exist_ok=True)
    context = dict(json.loads((ROOT / "cdk.json").read_text())["context"])
    context["tessera:layersDir"] = str(tmp / "layers")
    context.update(overrides)
    return context


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app, synthesized (cdk-nag included), and its stack."""
    from infra.app import STACK_NAME, build_app

    tmp = tmp_path_factory.mktemp("synth")
    app = build_app(context=cdk_context(tmp), outdir=str(tmp / "cdk.out"))
    assembly = app.synth()
    return app, app.node.find_child(STACK_NAME), assembly.get_stack_by_name(STACK_NAME).template


@pytest.fixture(scope="session")
def template(synthesized: Any) -> dict[str, Any]:
    """The stack's CloudFormation template."""
    return dict(synthesized[2])
