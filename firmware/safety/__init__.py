"""The safety supervisor: the interlock in a process of its own, and the channel the controller drives it
through (docs/safety-supervisor.md)."""
