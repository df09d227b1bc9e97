"""Saves of one connection at the same time never mix: the row that wins keeps its own
secret. Two saves interleaving could otherwise leave one's options with the other's secret,
which would then be sent to the first one's host (a secret leaving for a place it was not
saved for). The secret store is slowed here so that, without the server taking one save of
a connection at a time, the saves' steps interleave on every run."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from connector.models import ConnectionInput
from connector.runtime import Runtime

SAVERS = 6
SAVES_EACH = 8
ROUNDS = 5


def _payload(number: int) -> ConnectionInput:
    return ConnectionInput(
        name="shared",
        kind="postgresql",
        options={"host": "127.0.0.1", "port": 5432, "user": f"u{number}", "database": "d"},
        secret=f"pw-{number}",
    )


def test_concurrent_saves_of_one_connection_keep_each_row_with_its_own_secret(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = runtime.connector
    secrets = connector.secrets
    slow_set = secrets.set

    def set_slowly(name: str, secret: str) -> None:
        # Widens, by a different amount each time, the windows between a save's secret
        # and its row, so that saves overtake each other.
        time.sleep(random.uniform(0, 0.01))
        slow_set(name, secret)

    monkeypatch.setattr(secrets, "set", set_slowly)
    connector.create_connection(_payload(0), test=False)
    # Several rounds, each ending in a state to check: one round may happen not to mix.
    for round_number in range(ROUNDS):
        failures: list[BaseException] = []

        def saver(first: int, failures: list[BaseException] = failures) -> None:
            try:
                for number in range(first, first + SAVES_EACH):
                    connector.update_connection("shared", _payload(number), test=False)
            except BaseException as exc:  # reported below, in the test's own thread
                failures.append(exc)

        firsts = [100_000 * round_number + 1000 * (i + 1) for i in range(SAVERS)]
        threads = [threading.Thread(target=saver, args=(first,)) for first in firsts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)  # a hang guard: a round takes about a second
        assert not failures, failures
        spec = connector.get_connection("shared")
        user: Any = spec.options["user"]
        assert secrets.get("shared") == "pw-" + str(user).removeprefix("u"), round_number
