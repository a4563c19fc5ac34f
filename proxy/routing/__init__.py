"""The routing and resilience engine: pure decisions, no I/O."""
