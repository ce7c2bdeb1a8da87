"""``python -m ksef_auth_simulator``: the same as ``ksef-auth simulator``."""

from ksef_auth_simulator.cli import simulator

if __name__ == "__main__":
    simulator(prog_name="python -m ksef_auth_simulator")
