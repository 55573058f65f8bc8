"""The `wig80` entry point: one CLI over the project's packages.

Every entry point lives in this package, so importing it comes first: gRPC's fork handlers are turned off
here, before anything imports gRPC (processes.children.keep_grpc_out_of_forks).
"""

from processes.children import keep_grpc_out_of_forks

keep_grpc_out_of_forks()

__version__ = "0.1.0"
