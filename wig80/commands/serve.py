"""`wig80 serve [--triton-only]` and `wig80 up` (synthesize if empty -> train quick -> export -> serve)."""

from __future__ import annotations

import argparse
import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path

from serving.contract import ADMIN_HEADER, LOAD_ORDER
from serving.tritonserver import TritonServer, TritonStartError
from settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="start the embedded Triton (unless TRITON_URL is set) and the gateway",
        description="Start the embedded tritonserver on the model repository (explicit model control), "
        "wait until the models are ready, then the FastAPI gateway. Ctrl-C stops both cleanly.",
    )
    add_serving_arguments(serve)
    serve.set_defaults(handler=serve_command)
    up = subparsers.add_parser(
        "up",
        help="synthesize data if the store is empty, train the quick profile, export, serve",
    )
    up.add_argument("--profile", choices=("tiny", "quick", "full"), default="quick", help="training profile")
    add_serving_arguments(up)
    up.set_defaults(handler=up_command)


def add_serving_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--triton-only", action="store_true", help="serve Triton alone, without the gateway")
    parser.add_argument(
        "--repository",
        type=Path,
        default=None,
        help="model repository (default: WIG80_MODEL_REPOSITORY, else WIG80_HOME/model_repository)",
    )
    parser.add_argument("--http-port", type=int, default=None, help="Triton HTTP port (default 8000)")
    parser.add_argument("--grpc-port", type=int, default=None, help="Triton gRPC port (default 8001)")
    parser.add_argument("--metrics-port", type=int, default=None, help="Triton metrics port (default 8002)")
    parser.add_argument(
        "--retrain-cron",
        default=None,
        metavar="CRON",
        help='run `wig80 retrain` on this schedule in a lower-priority child, e.g. "0 2 * * SUN" '
        "(5 crontab fields; 6 with seconds first)",
    )


def say(message: str) -> None:
    print(f"[serve] {message}", flush=True)


def fail(message: str, code: int = 2) -> int:
    print(f"wig80: {message}", file=sys.stderr, flush=True)
    return code


def missing_models(repository: Path) -> list[str]:
    return [
        m
        for m in LOAD_ORDER
        if not (repository / m / "config.pbtxt").is_file()
        or not any(p.name.isdigit() for p in (repository / m).iterdir() if p.is_dir())
    ]


def embedded_server(args: argparse.Namespace, settings: Settings) -> TritonServer:
    return TritonServer(
        Path(args.repository or settings.repository_dir),
        args.http_port or settings.triton_http_port,
        args.grpc_port or settings.triton_grpc_port,
        args.metrics_port or settings.triton_metrics_port,
        home=Path(settings.home),
        host=settings.triton_host,
        admin_key=settings.triton_admin_key,
    )


def serve_command(args: argparse.Namespace) -> int:
    stop_on_signals()
    return serve(args, Settings())


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Triton (the embedded one unless TRITON_URL), the registry beside it, then the gateway; the gateway and
    the scheduled retraining get `settings` with the addresses of what was started."""
    from registry.client import RegistryError
    from wig80.commands.registry_beside_triton import registry_beside_triton

    if args.retrain_cron:
        from lifecycle.scheduler import cron_trigger

        try:
            cron_trigger(args.retrain_cron)
        except ValueError as error:
            return fail(f"--retrain-cron: {error}")
    if not args.triton_only and importlib.util.find_spec("gateway.main") is None:
        return fail(
            "the gateway (gateway/main.py) is not installed yet; run `wig80 serve --triton-only` "
            "to serve Triton alone"
        )
    if settings.triton_url:
        say(f"TRITON_URL={settings.triton_url}: using that Triton, not starting the embedded one")
        if args.triton_only:
            return 0
        with registry_beside_triton(settings, Path(args.repository or settings.repository_dir), args.retrain_cron,
                                    say) as served:
            return run_gateway(served)
    server = embedded_server(args, settings)
    missing = missing_models(server.repository)
    if missing:
        return fail(
            f"{server.repository} has no exported version of {', '.join(missing)}: "
            "run `wig80 export RUN_DIR` (or `wig80 up`) first"
        )
    try:
        say(f"starting tritonserver on {server.repository} (log {server.log_path})")
        server.start().wait_ready()
        print_triton_urls(server)
        with registry_beside_triton(with_triton(settings, server), server.repository, args.retrain_cron,
                                    say) as served:
            if args.triton_only:
                return wait_for_interrupt(server)
            return run_gateway(served)
    except (TritonStartError, RegistryError) as error:
        return fail(str(error), 1)
    except KeyboardInterrupt:
        return 0
    finally:
        if server.is_running():
            say("stopping tritonserver ...")
        server.stop()


def stop_on_signals() -> None:
    """SIGINT (Ctrl-C) and SIGTERM (docker stop, kill) both take the clean path: KeyboardInterrupt.

    Set explicitly for both: a process started in the background of a non-interactive shell (as CI
    does) starts with SIGINT ignored, and Python then installs no Ctrl-C handler of its own.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, interrupt)


def wait_for_interrupt(server: TritonServer) -> int:
    say("serving; Ctrl-C stops")
    while server.is_running():
        time.sleep(0.5)
    return fail(f"tritonserver exited unexpectedly (log {server.log_path}):\n{server.log_tail()}", 1)


def print_triton_urls(server: TritonServer) -> None:
    say(f"Triton HTTP    {server.address.http_url}  (tritonclient.http: {server.address.http})")
    say(f"Triton gRPC    {server.address.grpc}")
    say(f"Triton metrics {server.address.metrics_url}")
    say(f"models ready: {', '.join(server.models)}")


def with_triton(settings: Settings, server: TritonServer) -> Settings:
    """The settings with the address of the Triton we started (its ports may come from the command line)."""
    return settings.model_copy(update={"triton_host": server.host, "triton_http_port": server.http_port,
                                       "triton_grpc_port": server.grpc_port, "triton_metrics_port": server.metrics_port})


def run_gateway(settings: Settings) -> int:
    from wig80.commands.gateway_worker import serve as serve_gateway

    say(f"gateway        http://{settings.api_host}:{settings.api_port}  (dashboard /, docs /docs, metrics /metrics)")
    serve_gateway(settings)
    return 0


def up_command(args: argparse.Namespace) -> int:
    stop_on_signals()
    settings = Settings()
    repository = Path(args.repository or settings.repository_dir)
    say(f"training the {args.profile} profile (an empty bar store gets a synthetic market first)")
    try:
        run_dir = wig80_child(["train", "--profile", args.profile])
        say(f"trained {run_dir}")
        wig80_child(["export", run_dir, "--repository", str(repository)])
    except ChildFailed as error:  # e.g. an empty store for --profile full: the child said why
        return fail(str(error), 1)
    if settings.triton_url:
        say(
            f"TRITON_URL={settings.triton_url}: load the new version there "
            f"(POST /v2/repository/models/<model>/load for {', '.join(LOAD_ORDER)}, "
            f"with the header {ADMIN_HEADER}: $WIG80_TRITON_ADMIN_KEY)"
        )
    args.repository = repository
    return serve(args, settings)


class ChildFailed(RuntimeError):
    """A `wig80` child command exited non-zero (its own message is already on stderr)."""


def wig80_child(arguments: list[str]) -> str:
    """`wig80 ARGUMENTS` in a child process, its output passed through; returns its last output line.

    Training and export import torch (~900 MB resident); in a child they leave none of it in the process
    that goes on to serve the gateway.
    """
    from processes.children import spawn, stop

    process = spawn([sys.executable, "-m", "wig80.cli", *arguments], stdout=subprocess.PIPE, text=True)
    last = ""
    try:
        for line in process.stdout:
            print(line, end="", flush=True)
            last = line.strip() or last
        code = process.wait()
    finally:
        stop(process)
    if code != 0:
        raise ChildFailed(f"wig80 {arguments[0]} exited with {code}")
    return last
