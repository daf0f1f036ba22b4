"""The worker keeps the log level asked for: no spinner putting the root logger at DEBUG."""

from __future__ import annotations

import logging

import pytest
from agent_fixtures import stream_app

from streams.runtime.app import QuietWorker


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.mark.parametrize(("asked", "level"), [("warning", logging.WARNING), ("info", logging.INFO)])
def test_worker_logs_at_the_level_asked(tmp_path, root_logging, asked, level):
    with stream_app(tmp_path) as (app, _):
        worker = QuietWorker(app, loglevel=asked, quiet=True)
        worker._setup_logging()
        assert root_logging.level == level
        assert not logging.getLogger("aiokafka.producer.producer").isEnabledFor(logging.DEBUG)
