"""Tests of the local control plane and its fixture."""
