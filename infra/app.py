"""Build the CDK app: the stack, configured from context, checked by cdk-nag's AwsSolutions pack."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import TesseraConfig
from infra.stack import TesseraStack

STACK_NAME = "TesseraStack"


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    """The app with one :class:`TesseraStack`; any unacknowledged AwsSolutions finding fails synth."""
    app = cdk.App(context=context, outdir=outdir)
    config = TesseraConfig.from_context(app.node)
    TesseraStack(app, STACK_NAME, config=config, description="Tessera: CV models over large overhead images")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
