"""`wig80 export RUN_DIR [--target cpu|gpu] [--tensorrt] [--repository PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a training run as a new version of the Triton model repository, registered",
        description="ONNX export (parity-checked against PyTorch) into a new numbered version of the "
        "features, mgdl and wig80 models of the Triton model repository, registered in the registry "
        "(PocketBase); a version the registry refuses is removed again.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a training run directory")
    parser.add_argument(
        "--target",
        choices=("cpu", "gpu"),
        default="cpu",
        help="cpu: mgdl as a Python-backend model running ONNX Runtime (the embedded Triton); "
        "gpu: the native onnxruntime backend with the TensorRT accelerator",
    )
    parser.add_argument(
        "--tensorrt",
        action="store_true",
        help="also build a TensorRT engine (model.plan); needs TensorRT and an NVIDIA GPU",
    )
    parser.add_argument(
        "--repository",
        type=Path,
        default=None,
        help="model repository folder (default: WIG80_MODEL_REPOSITORY, else WIG80_HOME/model_repository)",
    )
    parser.set_defaults(handler=run_export_command)


def run_export_command(args: argparse.Namespace) -> int:
    from export.onnx_export import ParityError
    from lifecycle.publish import RegistrationError, export_registered
    from lifecycle.repository_lock import RepositoryBusy, UnsafeLockFile
    from registry.client import RegistryError
    from settings import Settings
    from wig80.commands.model_lifecycle import EXIT_BUSY
    from wig80.commands.registry_session import open_registry

    if not args.run_dir.exists():
        print(f"wig80 export: {args.run_dir}: no such run directory", file=sys.stderr)
        return 2
    if args.tensorrt and args.target != "gpu":
        print("wig80 export: --tensorrt builds a GPU engine; use it with --target gpu", file=sys.stderr)
        return 2
    settings = Settings()
    try:
        with open_registry(settings) as registry:  # no version is served that the registry lacks
            result = export_registered(registry, args.run_dir, settings, args.target, args.repository,
                                       build_tensorrt=args.tensorrt)
    except RepositoryBusy as error:
        print(f"wig80 export: {error}", file=sys.stderr)
        return EXIT_BUSY
    except (ParityError, ValueError, FileNotFoundError, RegistrationError, RegistryError, UnsafeLockFile) as error:
        print(f"wig80 export: {error}", file=sys.stderr)
        return 1
    if result.tensorrt_error:
        print(
            f"wig80 export: no TensorRT engine built: {result.tensorrt_error}. The GPU configs of version "
            f"{result.version} are written (mgdl runs on onnxruntime + the TensorRT accelerator).",
            file=sys.stderr,
        )
        return 1
    return 0
