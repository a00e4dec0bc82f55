"""``python -m chaoskit`` is the ``chaoskit`` command."""

from chaoskit.cli import main

if __name__ == "__main__":
    main()
