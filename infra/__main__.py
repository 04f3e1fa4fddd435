"""Pulumi entry point: validate the stack's config, then build the platform.

Invalid config stops the run with a short message (pulumi.RunError prints no traceback)
before any resource is registered.
"""

import os
import sys
from pathlib import Path

# Pulumi runs this file with infra/ as the program directory; components/ sits beside it, and
# project-relative paths in stack config (renderDir, adapter sourceDir, CA bundle file) are
# resolved from the project root, exactly as offline synthesis resolves them.
_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_ROOT))
os.chdir(_ROOT)

import pulumi  # noqa: E402

from infra.config_loading import PlatformConfigError, load_platform_config, read_runtime_config, stack_file  # noqa: E402
from infra.compose import build_platform  # noqa: E402

_stack = pulumi.get_stack()
try:
    _cfg = load_platform_config(_stack, read_runtime_config(), f"stacks/{stack_file(_stack).name}")
except PlatformConfigError as exc:
    raise pulumi.RunError(str(exc)) from None

build_platform(_cfg, _stack)
