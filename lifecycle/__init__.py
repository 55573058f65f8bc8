"""A model's life after training: registered exports, deployments, rollbacks, champion/challenger retraining.

Every step writes the registry (PocketBase) and the home's Triton repository together, so no version
that Triton serves is missing from the registry and no deployment is recorded that did not happen.
"""
