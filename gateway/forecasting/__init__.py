"""The gateway's hot state and what it answers from it: each symbol's window, one forecast per window and
served model version (memory, Redis, else Triton), the served model, and every response derived from them."""
