"""`wig80 serve --retrain-cron "0 2 * * SUN"`: APScheduler runs `wig80 retrain` in a separate process.

The retraining runs as a child process at a lower CPU priority (nice), so on a small machine serving
is not starved while a challenger trains; the child's lock (lifecycle.retrain) keeps a second run from
training while one is still going, whichever started it. A cron expression of five fields is standard
crontab; six fields put seconds first (for tests and demonstrations).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

RETRAIN_NICENESS = 10
log = logging.getLogger(__name__)


def cron_trigger(expression: str) -> CronTrigger:
    """Five fields (minute hour day month day-of-week) or six (second first); ValueError names the problem."""
    fields = expression.split()
    if len(fields) == 5:
        return CronTrigger.from_crontab(expression)
    if len(fields) == 6:
        second, minute, hour, day, month, day_of_week = fields
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week)
    raise ValueError(f"cron expression {expression!r} has {len(fields)} fields; give 5 (crontab) or 6 (seconds first)")


def retrain_command() -> list[str]:
    return [sys.executable, "-m", "wig80.cli", "retrain"]


def run_niced(command: Sequence[str], env: dict[str, str] | None = None) -> int:
    """One run of `command` in a child at lower priority that dies with us; its exit code (3: another
    retraining held the lock). `nice` execs the command in the same process, so the death signal holds."""
    from processes.children import spawn

    process = spawn(["nice", "-n", str(RETRAIN_NICENESS), *command], env=env)
    code = process.wait()
    log.info("scheduled retraining exited with %s", code)
    return code


class RetrainSchedule:
    """A background scheduler with one job: the retraining command on `expression`."""

    def __init__(self, expression: str, command: Sequence[str] | None = None, env: dict[str, str] | None = None):
        self.trigger = cron_trigger(expression)
        self.command = list(command or retrain_command())
        self.env = env
        # one instance at a time, and a missed firing is not made up twice
        self.scheduler = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True})

    def start(self) -> RetrainSchedule:
        self.scheduler.add_job(run_niced, self.trigger, args=(self.command, self.env), id="retrain")
        self.scheduler.start()
        return self

    def next_run(self):
        return self.scheduler.get_job("retrain").next_run_time

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
