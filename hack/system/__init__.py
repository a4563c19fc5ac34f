"""The whole Switchboard system on a local control plane (``make run`` / ``make down``).

``start_system(cluster, SystemOptions(...), run_dir)`` starts mock upstreams,
operator replicas and proxy replicas as local processes, applies the CRDs and
``examples/cluster/``, and returns a ``RunningSystem`` once every proxy serves
every example profile. ``python -m hack.system up|down|status`` drives it from make.
``hack.system.kind`` is the same system for the e2e suite on a kind cluster
where ``make kind-up`` installed the chart (docs/kind.md).
"""

from hack.system.commands import SystemOptions
from hack.system.launcher import RunningSystem, SystemStartError, start_system, stop_recorded

__all__ = ["RunningSystem", "SystemOptions", "SystemStartError", "start_system", "stop_recorded"]
