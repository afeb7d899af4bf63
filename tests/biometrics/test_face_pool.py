"""Face work runs in a worker process, which is replaced if it dies."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool

import pytest
from face_samples import photo

from biometrics import engine
from biometrics.pool import ProcessRunner, shared_runner


def test_the_service_does_face_work_in_another_process(faces):
    assert faces.runner is shared_runner()
    assert faces.runner.run(os.getpid) != os.getpid()


def test_a_worker_that_dies_is_replaced_on_the_next_call():
    runner = ProcessRunner()
    try:
        with pytest.raises(BrokenProcessPool):
            runner.run(os._exit, 1)
        face = runner.run(engine.analyse, photo("obama_1.jpg"), 10**8)
        assert face.encoding.shape == (128,)
    finally:
        runner.close()
