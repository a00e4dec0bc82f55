"""The driver is tested against the embedded proxy server: reuse its fixtures."""

from tests.integration.proxy.conftest import (  # noqa: F401 - fixtures by name
    api,
    echo_server,
    echo_upstream,
    proxy_server,
)
