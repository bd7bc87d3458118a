"""The "40 light tasks" flow in Prefect 3, for the engine benchmark.

40 sequential tasks, each computing fib(10), in one flow on Prefect's local
default (an ephemeral API with SQLite). Prints the flow's wall time in
milliseconds, measured after one warm-up run. Prefect persists task runs in
the background, so the measurement waits for that to finish too.
"""

import time

from prefect import flow, task
from prefect.events.worker import EventsWorker


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@task
def light(n: int) -> int:
    return fib(n)


@flow
def forty_light_tasks() -> int:
    result = 0
    for _ in range(40):
        result = light(10)
    return result


def main() -> None:
    forty_light_tasks()  # warm-up: starts the local API server, creates the database
    started = time.perf_counter()
    assert forty_light_tasks() == 55
    # Task-run states and events are sent in the background: wait for them.
    EventsWorker.drain_all()
    elapsed = (time.perf_counter() - started) * 1000
    print(f"{elapsed:.1f}")


if __name__ == "__main__":
    main()
