"""The `chargepi` command line: runs the controller and talks to it over the control socket."""
