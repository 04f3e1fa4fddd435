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


def context_rules(cfg) -> list[tuple[str, str]]:
    """vLLM refuses a ``--max-model-len`` above the model's ``max_position_embeddings``."""
    from components.models.capacity import CATALOG

    issues = []
    for name, svc in sorted(cfg.serving.services.items()):
        arch = CATALOG.get(cfg.models.base_models[svc.base_model].architecture)
        if arch is not None and arch.max_context and svc.engine.max_model_len > arch.max_context:
            issues.append((f"serving.services.{name}.engine.maxModelLen",
                           f"{svc.engine.max_model_len} exceeds {arch.name}'s context of {arch.max_context} tokens "
                           "(max_position_embeddings); vLLM refuses it"))
    return issues


def image_rules(cfg) -> list[tuple[str, str]]:
    """The vLLM image must be the version whose argument spec every emitted argument is checked against."""
    from components.models.vllm_args import PINNED_VLLM_VERSION

    tag = cfg.models.vllm_image.tag
    if tag.removeprefix("v") != PINNED_VLLM_VERSION:
        return [("models.vllmImage.tag", f"{tag!r} is not the vLLM version the arguments are checked against; use "
                                         f"'v{PINNED_VLLM_VERSION}' (components/models/vllm_argspec)")]
    return []


def models_rules(cfg) -> list[tuple[str, str]]:
    """Adapter-mode, context and image rules, shared-GPU memory, then the VRAM capacity check of every service."""
    early = mode_rules(cfg) + context_rules(cfg) + image_rules(cfg)
    return early + time_slicing_rules(cfg) + (capacity_rules(cfg) if not early else [])
