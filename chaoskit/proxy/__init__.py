"""The embedded Toxiproxy-compatible server (``chaoskit proxy``).

``server`` runs it; ``api`` speaks the Toxiproxy HTTP API; ``state`` holds the
proxies and their toxics; ``link`` is the byte path of one connection;
``toxics`` is what each toxic does; ``connlog`` is the connection-log extension;
``busypoll`` is the optional spin that keeps the proxy's CPU awake after traffic.
Nothing here imports ``chaoskit.faults``: the driver talks to us over HTTP.
"""
