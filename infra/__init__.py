"""Tessera's CDK app: constructs with secure defaults, composed by one stack."""
