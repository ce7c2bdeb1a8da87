"""``python -m ksef_auth.cli``: the same as the ``ksef-auth`` command."""

from ksef_auth.cli import main

if __name__ == "__main__":
    main()
