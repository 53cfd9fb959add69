"""Cython builds for the micro-benchmarks only (never for the package): the pure-Python
smooth-WRR reference compiled unchanged (what Cython gives a plain .py for free) and
`cycle_pick.pyx` (the binding's precomputed-cycle pick as a Cython extension type).

Sources are copied under `target/cython-microbench/` (ignored by git, beside cargo's output) and
built there with `cythonize -i`; a build is reused while it is newer than its source.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
BUILD_DIR = HERE.parent.parent / "target" / "cython-microbench"
SOURCES = {
    "cy_smooth_wrr": HERE / "smooth_wrr.py",
    "cy_cycle_pick": HERE / "cycle_pick.pyx",
}


def load(module: str) -> ModuleType:
    """The compiled `module` (a key of SOURCES), built first when missing or stale."""
    source = SOURCES[module]
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    copy = BUILD_DIR / f"{module}{source.suffix}"
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    built = BUILD_DIR / f"{module}{suffix}"
    if not built.exists() or built.stat().st_mtime < source.stat().st_mtime:
        shutil.copyfile(source, copy)
        result = subprocess.run(
            [sys.executable, "-m", "Cython.Build.Cythonize", "-i", "-3", "-q", str(copy)],
            cwd=BUILD_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not built.exists():
            raise RuntimeError(f"cythonize {copy} failed:\n{result.stdout}\n{result.stderr}")
    spec = importlib.util.spec_from_file_location(module, built)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded
