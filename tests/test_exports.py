"""The public API is exactly what ``__all__`` says, and importing it does nothing."""

import subprocess
import sys

import chaoskit


def test_all_is_sorted_and_every_name_resolves():
    assert chaoskit.__all__ == sorted(chaoskit.__all__)
    for name in chaoskit.__all__:
        assert getattr(chaoskit, name) is not None, name


def test_every_public_name_is_in_all():
    public = {
        name
        for name, value in vars(chaoskit).items()
        if not name.startswith("_")
        and name != "annotations"
        and not isinstance(value, type(chaoskit))
        and name != "TYPE_CHECKING"
    }
    assert public <= set(chaoskit.__all__)


def test_import_has_no_side_effects():
    code = (
        "import sys, threading; import chaoskit; "
        "heavy = {'httpx', 'uvicorn', 'starlette', 'uvloop'} & set(sys.modules); "
        "assert not heavy, heavy; assert threading.active_count() == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_names_load_on_first_use():
    code = (
        "import sys, chaoskit; assert 'httpx' not in sys.modules; "
        "from chaoskit import Toxiproxy, ProxyServer; assert 'httpx' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
