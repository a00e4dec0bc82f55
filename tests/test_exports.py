"""The public API is exactly what ``__all__`` says, and importing it does nothing."""

import subprocess
import sys

import chaoskit


def test_all_is_sorted_and_complete():
    public = sorted(
        name
        for name in vars(chaoskit)
        if not name.startswith("_") and name not in {"annotations", "errors"}
        and not isinstance(getattr(chaoskit, name), type(chaoskit))
    )
    assert chaoskit.__all__ == sorted(chaoskit.__all__)
    assert sorted(chaoskit.__all__) == public


def test_import_has_no_side_effects():
    code = (
        "import sys, threading; before = set(sys.modules); import chaoskit; "
        "heavy = {'httpx', 'uvicorn', 'starlette', 'uvloop', 'structlog'} & set(sys.modules); "
        "assert not heavy, heavy; assert threading.active_count() == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
