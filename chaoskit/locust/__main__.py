"""``python -m chaoskit.locust``: the plugin's path, for workers started by hand::

    locust --worker --master-host 127.0.0.1 --master-port 5557 \\
        -f "$(python -m chaoskit.locust),locustfile.py"
"""

from chaoskit.locust.config import plugin_path

print(plugin_path())
