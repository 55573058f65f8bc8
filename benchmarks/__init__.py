"""The benchmarks of README's Benchmarks table (`python -m benchmarks.<name>`)."""

from processes.children import keep_grpc_out_of_forks

keep_grpc_out_of_forks()  # before any benchmark imports gRPC: they spawn servers from processes that use it
