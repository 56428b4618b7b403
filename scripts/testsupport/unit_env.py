"""The environment the systemd unit gives the daemon (its `Environment=` lines), so that
benchmarks and helper scripts run the binary the way an installed service runs."""
import os

UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "systemd", "spotifyd-etl.service")


def unit_environment(path=UNIT):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("Environment="):
                for assignment in line[len("Environment="):].split():
                    key, _, value = assignment.partition("=")
                    env[key] = value.strip('"')
    return env


if __name__ == "__main__":
    for k, v in unit_environment().items():
        print(f"{k}={v}")
