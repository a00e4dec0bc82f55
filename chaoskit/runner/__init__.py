"""The runner: services up, load and faults on the plan's schedule, probes, rollback."""
