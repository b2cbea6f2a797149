#!/usr/bin/env python3
"""Tessera's CDK app: ``cdk synth`` / ``cdk deploy`` (the CLI is pinned in package.json)."""

from infra.app import build_app

build_app().synth()
