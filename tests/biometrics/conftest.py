"""Fixtures for the face tests: the service over the test runtime, a subject photo."""

from __future__ import annotations

import pytest
from face_samples import Subject

from biometrics.pool import INLINE
from biometrics.service import FaceService


@pytest.fixture(scope="session")
def obama() -> Subject:
    return Subject("obama_1.jpg")


@pytest.fixture
def faces(runtime) -> FaceService:
    """The service as the web app runs it: face work in the shared worker process."""
    return FaceService(runtime)


@pytest.fixture
def inline_faces(runtime) -> FaceService:
    return FaceService(runtime, INLINE)
