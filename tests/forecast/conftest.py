from collections.abc import Iterator

import pytest

from tests.forecast.fake_services import FakeServices, serve


@pytest.fixture
def services() -> Iterator[FakeServices]:
    yield from serve()
