"""Serving: the embedded Triton Inference Server launcher and the `wig80 serve` / `wig80 up` commands."""
