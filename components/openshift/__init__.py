"""The OpenShift AI layer: what the platform adds on a cluster running Red Hat OpenShift AI
(dashboard metadata, caller access behind KServe's auth proxy, operators through OLM).

The public API of ``components.openshift``: its components and their args, which a program builds
from plain values (``from components.openshift import ...``).
"""

from components.openshift.access import ModelAccess, ModelAccessArgs
from components.openshift.dashboard import RhoaiPresentation
from components.openshift.operators import OlmOperators, OlmOperatorsArgs
from components.openshift.spec import OlmSubscriptionSpec, OpenShiftSpec

__all__ = [
    "ModelAccess",
    "ModelAccessArgs",
    "OlmOperators",
    "OlmOperatorsArgs",
    "OlmSubscriptionSpec",
    "OpenShiftSpec",
    "RhoaiPresentation",
]
