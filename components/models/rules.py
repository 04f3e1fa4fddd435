"""Cross-field rules of the models layer, called from ``PlatformConfig._cross_field_rules``.

Each returns ``[(dotted.path, message)]``; messages name the field, the bad value and what is
allowed. ``models_rules`` runs after every other rule passed (the capacity planner needs
valid pool and model references).
"""

from __future__ import annotations

from components.models.planning import capacity_rules, time_slicing_rules


def mode_rules(cfg) -> list[tuple[str, str]]:
    issues = []
    for name, svc in sorted(cfg.serving.services.items()):
        if svc.adapter_mode == "static" and cfg.serving.kserve.mode == "Knative" and svc.frontend == "kserve":
            issues.append((f"serving.services.{name}.adapterMode",
                           "'static' downloads adapters in an init container, which Knative refuses unless its "
                           "kubernetes.podspec-init-containers feature is on; use 'dynamic' (the default) or "
                           "serving.kserve.mode 'Standard'"))
    return issues


def models_rules(cfg) -> list[tuple[str, str]]:
    """Adapter-mode rules, shared-GPU memory, then the VRAM capacity check of every service."""
    return mode_rules(cfg) + time_slicing_rules(cfg) + capacity_rules(cfg)
