from __future__ import annotations

import asyncio

import faust
import uvloop

from deploy.settings import Settings, use_event_loop


def loop_kind() -> type:
    loop = asyncio.new_event_loop()
    try:
        return type(loop)
    finally:
        loop.close()


def test_the_services_run_on_uvloop_unless_told_to_use_asyncios_own_loop():
    try:
        use_event_loop(Settings(_env_file=None))
        assert loop_kind() is uvloop.Loop
        app = faust.App("loop-probe", broker="kafka://127.0.0.1:1", web_enabled=False)
        worker = faust.Worker(app, loglevel="error", redirect_stdouts=False)
        assert isinstance(worker.loop, uvloop.Loop)  # the stream worker's loop too
        use_event_loop(Settings(_env_file=None, event_loop="asyncio"))
        assert not issubclass(loop_kind(), uvloop.Loop)
    finally:
        asyncio.set_event_loop_policy(None)
