"""Tessera's CDK app: constructs with secure defaults, composed by one stack."""

import os
from pathlib import Path

# jsii runs the CDK in Node.js: prefer the pinned Node 22 from package.json over the system's Node 20,
# which jsii no longer supports (it prints a large banner on every import).
_NODE = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "node"
if _NODE.exists():
    os.environ.setdefault("JSII_NODE", str(_NODE))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
