"""Constructors shared by every policy: each declares the ``platform`` config value (the stack's
facts, see ``facts.py``) so ``--policy-pack-config`` can carry it."""

from __future__ import annotations

from pulumi_policy import PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy

CONFIG_SCHEMA = PolicyConfigSchema(
    properties={"platform": {"type": "object", "description": "Facts about the checked stack (policies/llm_platform_policies/facts.py)."}},
)


def resource_policy(name: str, description: str, validate) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name=name, description=description, validate=validate, config_schema=CONFIG_SCHEMA)


def stack_policy(name: str, description: str, validate) -> StackValidationPolicy:
    return StackValidationPolicy(name=name, description=description, validate=validate, config_schema=CONFIG_SCHEMA)
