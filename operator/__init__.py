"""The Switchboard operator: validates resources and renders proxy configs."""
