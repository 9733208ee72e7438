"""The connection file is private, never replaces another, and is only removed by its owner."""

import os
import stat
import sys

import pytest
from moscale.serving import connection_file
from moscale.serving.connection_file import ConnectionFileError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def test_written_with_mode_0600_and_read_back(tmp_path):
    path = connection_file.write(tmp_path / "c.json", {"host": "127.0.0.1", "port": 1, "token": "t"})
    assert connection_file.read(path)["token"] == "t"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.stat().st_uid == os.getuid()
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temporary file left behind


def test_an_existing_file_is_never_replaced(tmp_path):
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ConnectionFileError, match="already exists"):
        connection_file.write(tmp_path / "c.json", {"token": "t"})
    with pytest.raises(ConnectionFileError, match="does not exist"):
        connection_file.check_writable(tmp_path / "missing" / "c.json", create_parent=False)


@posix_only
def test_a_shared_folder_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ConnectionFileError, match="writable by other users"):
        connection_file.check_writable(shared / "c.json", create_parent=False)


def test_remove_only_deletes_our_own_file(tmp_path):
    path = connection_file.write(tmp_path / "c.json", {"host": "h", "port": 1, "token": "mine"})
    connection_file.remove(path, "not mine")
    assert path.exists()
    connection_file.remove(path, "mine")
    assert not path.exists()


def test_read_reports_missing_files_and_fields(tmp_path):
    with pytest.raises(ConnectionFileError, match="moscale serve"):
        connection_file.read(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"host": "h"}')
    with pytest.raises(ConnectionFileError, match="port, token"):
        connection_file.read(tmp_path / "bad.json")


def test_runtime_dir_is_per_platform(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert connection_file.runtime_dir() == tmp_path / "moscale"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert connection_file.runtime_dir().parts[-3:] == (".local", "state", "moscale")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert connection_file.runtime_dir().parts[-3:] == ("Library", "Application Support", "moscale")
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    assert connection_file.runtime_dir() == tmp_path / "moscale"
