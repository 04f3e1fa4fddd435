"""Check that a random provider schema serves exactly what the installed pulumi_random SDK sends.

    python tools/engine/random/check_schema.py SCHEMA.json

For every resource class of the SDK: its type token must be a resource of the schema, the
SDK's input names (its ``*Args`` class) must equal the schema's ``inputProperties``, and its
output names must equal the schema's ``properties``. Exit 1 listing every difference; 0 when
they agree. build.sh runs this on the schema it embeds; the engine tests run it on the schema
the registered plugin serves.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path

import pulumi
import pulumi_random
from pulumi._types import input_type_py_to_pulumi_names, resource_py_to_pulumi_names

TOKEN = re.compile(r"""['"](random:[A-Za-z0-9_]+/[A-Za-z0-9_]+:[A-Za-z0-9_]+)['"]""")


def sdk_resources() -> dict[str, tuple[set[str], set[str]]]:
    """token -> (input names, output names) of every resource class in pulumi_random."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    for name in dir(pulumi_random):
        cls = getattr(pulumi_random, name)
        if not (inspect.isclass(cls) and issubclass(cls, pulumi.CustomResource)) or cls.__name__ == "Provider":
            continue
        tokens = set(TOKEN.findall(inspect.getsource(cls)))
        if len(tokens) != 1:
            raise SystemExit(f"cannot read the type token of pulumi_random.{name}: {sorted(tokens)}")
        args = getattr(pulumi_random, f"{name}Args")
        found[tokens.pop()] = (set(input_type_py_to_pulumi_names(args).values()),
                               set(resource_py_to_pulumi_names(cls).values()))
    return found


def differences(schema: dict) -> list[str]:
    problems = []
    resources = schema.get("resources") or {}
    for token, (inputs, outputs) in sorted(sdk_resources().items()):
        spec = resources.get(token)
        if spec is None:
            problems.append(f"{token}: not in the schema")
            continue
        for what, want, got in (("inputs", inputs, set(spec.get("inputProperties") or {})),
                                ("outputs", outputs, set(spec.get("properties") or {}))):
            if want != got:
                problems.append(f"{token} {what}: SDK only {sorted(want - got)}, schema only {sorted(got - want)}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    schema = json.loads(Path(argv[0]).read_text())
    problems = differences(schema)
    version = getattr(pulumi_random, "__version__", None) or json.loads(
        (Path(pulumi_random.__file__).parent / "pulumi-plugin.json").read_text())["version"]
    if problems:
        print(f"random provider schema {argv[0]} does not match pulumi_random {version}:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"random provider schema matches pulumi_random {version}: {len(sdk_resources())} resources, "
          "tokens and property names")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
