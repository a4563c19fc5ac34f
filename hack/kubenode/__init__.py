"""One real Kubernetes node for the local control plane (``make node-up`` / ``make node-down``).

containerd (runc, cgroupfs), a bridge CNI network of our own, kubelet, kube-proxy
(iptables) and kube-scheduler, all built from the control plane's Kubernetes
release. The API server listens on the bridge gateway so pods reach it through
the ``kubernetes`` Service. ``down`` removes every process, mount, network
namespace, iptables rule, cgroup and the bridge it made.
"""
