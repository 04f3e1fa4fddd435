"""The observability layer: PodMonitors, alert rules and dashboards of the model services.

The public API of ``components.observability``: its components and their args, which a program builds
from plain values (``from components.observability import ...``). Pure functions stay in their modules.
"""

from components.observability.observability import AlertThresholds, MonitoredService, Observability, ObservabilityArgs

__all__ = [
    "AlertThresholds",
    "MonitoredService",
    "Observability",
    "ObservabilityArgs",
]
