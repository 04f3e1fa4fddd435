"""Resource options for data users care about (model weights, adapters, buckets, their namespaces).

``protect`` makes the engine refuse to delete them when they drop out of the program or on
``pulumi destroy`` (use ``--exclude-protected`` to destroy everything else), and
``retain_on_delete`` keeps them in the cluster/account even if someone unprotects and deletes
the resource from the stack.
"""

from __future__ import annotations

import pulumi


def protected(opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    """``opts`` plus deletion protection for data."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True, retain_on_delete=True))
