"""Triton: the contract every package shares (serving.contract), the embedded `tritonserver` launcher, and
model control in dependency order."""
