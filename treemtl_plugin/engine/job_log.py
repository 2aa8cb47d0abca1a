"""What a long job tells the user: plain lines on the console, every line in a log file, and a
progress bar for the sweep.

Lines go through an mmengine ``MMLogger`` that writes ``<work_dir>/<name>.log`` (time-stamped,
every rank) and, on rank 0 only, prints the bare message through a rich console. The sweep's
bar (run k/N, the current run, elapsed time and ETA) lives on the same console, so lines
scroll above it; where the output is not a terminal, rich shows no bar and the lines alone
tell the progress.
"""
from __future__ import annotations

import logging
import os
import os.path as osp
import textwrap
import time

from mmengine.dist import get_rank
from mmengine.logging import MMLogger

__all__ = ['JobLog', 'console_printer']


def console_printer(console=None):
    """``print(line)`` onto a rich console at its width (the terminal's, $COLUMNS, else 80):
    a long line wraps with its continuation lines indented."""
    if console is None:
        from ..visualization.report import make_console
        console = make_console()

    def print_line(line: str) -> None:
        text = textwrap.fill(line, width=max(console.width, 40), subsequent_indent='    ',
                             break_on_hyphens=False, break_long_words=False)
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    return print_line


class _ConsoleHandler(logging.Handler):
    def __init__(self, console):
        super().__init__(logging.INFO)
        self.print_line = console_printer(console)

    def emit(self, record: logging.LogRecord) -> None:
        # at the terminal's width (the log file keeps one line)
        self.print_line(record.getMessage())


class JobLog:
    """``log(line)`` for a job's messages; ``progress(total)`` for its sweep. The newest open
    one is ``JobLog.active`` (where the tools send warnings as log lines)."""

    active: 'JobLog | None' = None

    def __init__(self, work_dir: str, name: str = 'recommend', console=None):
        from ..visualization.report import make_console
        os.makedirs(work_dir, exist_ok=True)
        self.path = osp.join(work_dir, f'{name}.log')
        self.console = console or make_console()
        self.logger = MMLogger.get_instance(f'treemtl_{name}_{time.time_ns()}',
                                            log_file=self.path, log_level='INFO')
        for handler in list(self.logger.handlers):
            if not isinstance(handler, logging.FileHandler):
                self.logger.removeHandler(handler)     # mmengine's coloured stream handler
        if get_rank() == 0:
            self.logger.addHandler(_ConsoleHandler(self.console))
        self._bar = None
        JobLog.active = self

    def __call__(self, line: str) -> None:
        self.logger.info(line)

    def progress(self, total: int):
        """A sweep progress bar (rank 0 on a terminal; otherwise a no-op)."""
        return _Progress(self, total)

    def close(self) -> None:
        if JobLog.active is self:
            JobLog.active = None
        for handler in list(self.logger.handlers):
            handler.close()
            self.logger.removeHandler(handler)


class _Progress:
    def __init__(self, log: JobLog, total: int):
        self.log, self.total = log, total
        self.bar = None

    def __enter__(self) -> '_Progress':
        if get_rank() == 0 and self.log.console.is_terminal and self.total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            self.bar = Progress(TextColumn('[sweep]'), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn('ETA'),
                                TimeRemainingColumn(), TextColumn('{task.description}'),
                                console=self.log.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task('', total=self.total)
        return self

    def started(self, run_id: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=run_id)

    def finished(self, run_id: str) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
