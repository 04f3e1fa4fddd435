"""Labels and metadata every object of the platform carries."""

from __future__ import annotations

PART_OF = "llm-platform"
DATA_PROTECTION_ANNOTATION = "llm-platform.io/data-protection"


def standard_labels(component: str, instance: str | None = None, **extra: str) -> dict[str, str]:
    """Recommended Kubernetes labels: what the object is part of and which component owns it."""
    labels = {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/component": component,
    }
    if instance:
        labels["app.kubernetes.io/instance"] = instance
    labels.update(extra)
    return labels
