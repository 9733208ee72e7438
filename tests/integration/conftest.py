"""The module-wide server of the serving integration tests."""

import pytest
from serving_process import start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("server"), "--read-timeout", "1", "--batch-wait-ms", "30")
    yield running
    running.stop()
