"""Air-gap readiness applied in one place to every workload of a stack with ``airgap.enabled``.

``apply`` runs first in ``build_platform``: it registers the stack transformation (see
``components/airgap/airgap.py`` for why the SDK-side transformation API) so every resource
registered afterwards, by any layer, is rewritten. The CA bundle ConfigMaps need the platform
namespaces, which are created right after: the transformation creates them once, as soon as the
first resource after the namespaces is registered (before any workload of the GPU, serving or
models layer), in every namespace the platform owns.
"""

from __future__ import annotations

import pulumi

from components.airgap.airgap import AirgapTransforms, settings_from_spec
from infra.context import REPO_ROOT, BuildContext


def apply(ctx: BuildContext) -> AirgapTransforms | None:
    """Register the stack-wide transforms before any resource exists."""
    spec = ctx.cfg.airgap
    if not spec.enabled:
        return None
    component = AirgapTransforms("airgap", settings_from_spec(spec, REPO_ROOT), ctx.k8s_opts())

    done = []

    def with_ca_bundles(args: pulumi.ResourceTransformationArgs):
        # Once, at the first resource registered after the namespaces component is complete.
        if not done and ctx.namespaces is not None and args.opts.parent is not ctx.namespaces:
            done.append(True)  # before creating: the ConfigMaps' own registration must not re-enter
            component.add_ca_bundles(ctx.namespaces.names)
        return None

    # Runs before the rewrite of each resource; parent transformations run after own ones, and
    # stack transformations in registration order, so this one is registered second but is cheap.
    pulumi.runtime.register_stack_transformation(with_ca_bundles)
    ctx.exports["airgapRegistry"] = spec.registry
    return component
