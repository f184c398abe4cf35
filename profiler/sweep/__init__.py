"""Sweeps: the config, the plan, the budget and its estimate, the run and its resume; ``exec`` runs the tasks."""
