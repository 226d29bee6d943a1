"""Orchestrations over the steps: `run` (the whole method), the seed's experiment, the demo."""
