"""Capacity plan of a stack: each service's VRAM budget and how many GPUs the stack needs,
next to what one fully fine-tuned model per use case would need.

    python -m infra.plan --stack NAME

Reads the stack file like ``infra.synth`` (no cluster, no credentials). Exit status: 0 ok,
2 invalid config (which includes a service that cannot hold one full sequence).
"""

from __future__ import annotations

import argparse
import sys

from components.models.planning import format_plan, plan_services
from infra.config_loading import PlatformConfigError, display_path, load_platform_config, read_stack_file, stack_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    try:
        sections, _ = read_stack_file(args.stack)
        cfg = load_platform_config(args.stack, sections, display_path(stack_file(args.stack)))
    except PlatformConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(format_plan(args.stack, plan_services(cfg), cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
