from __future__ import annotations

import os
import subprocess
import sys

import pytest

# What `python -m streams` does before faust starts, in a fresh process as in production.
PROBE = """
from streams.settings import Settings, use_event_loop
use_event_loop(Settings(_env_file=None))
import asyncio, faust
app = faust.App("loop-probe", broker="kafka://127.0.0.1:1", web_enabled=False)
worker = faust.Worker(app, loglevel="error", redirect_stdouts=False)
print(type(asyncio.new_event_loop()).__module__, type(worker.loop).__module__)
"""


@pytest.mark.parametrize(("setting", "kind"), [(None, "uvloop"), ("asyncio", "asyncio.unix_events")])
def test_the_services_run_on_uvloop_unless_told_to_use_asyncios_own_loop(setting, kind):
    env = {k: v for k, v in os.environ.items() if k != "TONGFANG_EVENT_LOOP"}
    if setting is not None:
        env["TONGFANG_EVENT_LOOP"] = setting
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == [kind, kind]
