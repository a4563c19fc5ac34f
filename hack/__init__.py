"""Developer and CI tooling: tool installs and the local Kubernetes control plane."""
