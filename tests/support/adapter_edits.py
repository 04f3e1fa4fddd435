"""Stack-config edits that add, bump and remove an adapter of one base model: the three changes
the zero-restart claim is about, written once for every frontend's test."""

from __future__ import annotations

from typing import Callable

Edit = Callable[[dict], None]


def adapter_edits(base_model: str) -> dict[str, Edit]:
    """``{"add", "bump", "remove"}`` -> an in-place edit of a stack's config sections, each on
    the first adapter of ``base_model`` (``add`` publishes the same files under a new name)."""

    def first(s: dict) -> dict:
        return next(a for a in s["models"]["adapters"] if a["baseModel"] == base_model)

    def add(s: dict) -> None:
        s["models"]["adapters"].append({**first(s), "name": f"{first(s)['name']}-b"})

    def bump(s: dict) -> None:
        first(s)["version"] += "-b"

    def remove(s: dict) -> None:
        gone = first(s)
        s["models"]["adapters"].remove(gone)
        # A grant naming the removed adapter would be a config error: the tenants lose it too.
        for tenant in s.get("tenants", {}).values():
            tenant["grants"] = [g for g in tenant["grants"] if not g.endswith(f":{gone['name']}")]
        s["tenants"] = {n: t for n, t in s.get("tenants", {}).items() if t["grants"]}

    return {"add": add, "bump": bump, "remove": remove}
