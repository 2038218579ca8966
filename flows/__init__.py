"""Prefect flows that run the DVC stages; they add retries and visibility, no logic."""
