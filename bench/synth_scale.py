"""How offline synthesis scales with the number of services and adapters.

Generates render-mode configs with S services x A adapters each (every adapter reuses the
shipped fixture adapter directory), synthesizes each under Pulumi's mock runtime and prints
wall time, registered resources and Kubernetes objects as a table.

    .venv/bin/python bench/synth_scale.py                 # 1/10/100 services x 1/10/100 adapters
    .venv/bin/python bench/synth_scale.py --services 1 10 --adapters 1 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.config_loading import read_stack_file  # noqa: E402
from infra.synth import synthesize  # noqa: E402


def _fixture_adapter_dir() -> str:
    sections, _ = read_stack_file("local")
    return sections["models"]["adapters"][0]["sourceDir"]


def generated_sections(services: int, adapters: int) -> dict:
    """A local-stack config with ``services`` services, each with its own base model and ``adapters`` adapters."""
    sections, _ = read_stack_file("local")
    base_template = next(iter(sections["models"]["baseModels"].values()))
    service_template = next(iter(sections["serving"]["services"].values()))
    pool = service_template["pool"]
    source_dir = _fixture_adapter_dir()
    rank = sections["models"]["adapters"][0]["rank"]
    base_models, svc, adapter_list = {}, {}, []
    for s in range(services):
        base = f"base-{s:03d}"
        base_models[base] = dict(base_template, servedName=base,
                                 source=dict(base_template["source"], claimName=f"weights-{s:03d}"))
        svc[f"svc-{s:03d}"] = dict(service_template, baseModel=base, pool=pool)
        adapter_list += [
            {"name": f"adapter-{a:03d}", "baseModel": base, "version": "v2026-11-01", "sourceDir": source_dir, "rank": rank}
            for a in range(adapters)
        ]
    sections["models"] = {"baseModels": base_models, "adapters": adapter_list}
    sections["serving"] = dict(sections["serving"], services=svc)
    # Whole GPUs: vLLM pods sharing a time-sliced GPU must fit its memory together (config rule).
    sections["gpu"]["pools"][pool]["sharing"] = {"mode": "none"}
    sections["gpu"]["pools"][pool]["gpusPerNode"] = 8
    return sections


def measure(services: int, adapters: int, repeats: int) -> tuple[float, float, int, int]:
    times = []
    result = None
    for _ in range(repeats):
        sections = generated_sections(services, adapters)
        start = time.perf_counter()
        result = synthesize("local", sections)
        times.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(times), min(times), len(result.registrations), len(result.manifests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--adapters", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--repeats", type=int, default=1, help="runs per cell (median reported)")
    args = parser.parse_args()
    print(f"{'services':>8} {'adapters/svc':>12} {'adapters':>9} {'resources':>9} {'k8s objs':>8} {'seconds':>8} {'ms/resource':>11}")
    for services in args.services:
        for adapters in args.adapters:
            median, _best, resources, objects = measure(services, adapters, args.repeats)
            print(f"{services:>8} {adapters:>12} {services * adapters:>9} {resources:>9} {objects:>8} "
                  f"{median:>8.2f} {1000 * median / max(resources, 1):>11.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
