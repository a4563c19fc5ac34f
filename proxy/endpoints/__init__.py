"""Service-backed providers: EndpointSlices followed, endpoints picked, ejected and saturated.

The pools reuse the routing engine's breaker and the engine reads the pools, so
the routing package is loaded first whichever of the two is imported first.
"""

import switchboard.proxy.routing  # noqa: F401  (import order, see above)
