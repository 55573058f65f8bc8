"""Where the embedded `tritonserver` lives and what it needs to run outside NVIDIA's container.

The `nvidia-pytriton` wheel ships the real server (with the Python backend) but lays its files out
for PyTriton's own launcher: the Python-backend stub sits apart from the backend, and the shared
libraries live in the wheel's `nvidia_pytriton.libs`. We never modify the installed wheel; instead
we assemble a backend directory of copies next to the project's data and point the server at it.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

PROJECT_PREFIX = "WIG80_"  # settings: every setting but the service URLs
PROJECT_URLS = ("MARKET_DB_URL", "REDIS_URL", "TRITON_URL", "POCKETBASE_URL")


class TritonNotInstalledError(RuntimeError):
    """The nvidia-pytriton wheel (and with it the tritonserver binary) is not importable."""


@dataclass(frozen=True)
class TritonBinary:
    server: Path  # the tritonserver executable
    libs: Path  # the wheel's bundled shared libraries
    python_backend: Path  # libtriton_python.so and triton_python_backend_utils.py
    python_stub: Path  # triton_python_backend_stub for this interpreter's version

    @classmethod
    def from_wheel(cls) -> TritonBinary:
        try:
            import pytriton
        except ImportError as error:
            raise TritonNotInstalledError(
                "the embedded Triton needs the `nvidia-pytriton` wheel: pip install nvidia-pytriton"
            ) from error
        package = Path(pytriton.__file__).resolve().parent
        root = package / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        binary = cls(
            server=root / "bin" / "tritonserver",
            libs=package.parent / "nvidia_pytriton.libs",
            python_backend=root / "backends" / "python",
            python_stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
        )
        missing = [
            str(path) for path in (binary.server, binary.libs, binary.python_stub) if not path.exists()
        ]
        if missing:
            raise TritonNotInstalledError(f"the nvidia-pytriton wheel lacks {', '.join(missing)}")
        return binary

    def prepare_backend_directory(self, target: Path) -> Path:
        """Assemble `target/python/` with the backend library, its utils and the stub; return `target`."""
        python_dir = target / "python"
        python_dir.mkdir(parents=True, exist_ok=True)
        sources = [
            *sorted(self.python_backend.glob("*.so")),
            *sorted(self.python_backend.glob("*.py")),
            self.python_stub,
        ]
        for source in sources:
            destination = python_dir / source.name
            if not destination.exists() or destination.stat().st_size != source.stat().st_size:
                shutil.copy2(source, destination)
        return target

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The server's environment: the wheel's libraries, this interpreter's libpython, this venv first,
        and none of the project's settings (its secrets and service URLs are no business of the models).

        The Python-backend stub runs isolated (it ignores PYTHONPATH); it finds the venv's packages
        only through the `python` that comes first on PATH, and loads libpython from LD_LIBRARY_PATH.
        """
        env = {name: value for name, value in (os.environ if base is None else base).items()
               if not name.startswith(PROJECT_PREFIX) and name not in PROJECT_URLS}
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        library_path = [str(self.libs), libdir, env.get("LD_LIBRARY_PATH", "")]
        env["LD_LIBRARY_PATH"] = ":".join(part for part in library_path if part)
        env["PATH"] = ":".join(
            part for part in (str(Path(sys.executable).parent), env.get("PATH", "")) if part
        )
        return env
