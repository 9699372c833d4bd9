from __future__ import annotations

import stat
from pathlib import Path

import pytest

from jedi_academy.config import load_settings
from jedi_academy.errors import AcademyError
from jedi_academy.reddit.privacy import Pseudonymizer, load_or_create_secret, secret_path


def test_pseudonyms_are_stable_with_the_same_key_and_differ_with_another() -> None:
    first, again, other = Pseudonymizer(b"k" * 32), Pseudonymizer(b"k" * 32), Pseudonymizer(b"o" * 32)
    assert first.author("YoungModern") == again.author("YoungModern")
    assert first.author("YoungModern") != other.author("YoungModern")
    assert first.author("YoungModern") != first.author("OldModern")
    assert "YoungModern" not in (first.author("YoungModern") or "")


def test_usernames_are_case_insensitive() -> None:
    p = Pseudonymizer(b"k" * 32)
    assert p.author("YoungModern") == p.author("youngmodern")


@pytest.mark.parametrize("name", ["[deleted]", "[removed]", "", None, 42])
def test_deleted_authors_become_null_not_a_shared_pseudonym(name: object) -> None:
    assert Pseudonymizer(b"k" * 32).author(name) is None


@pytest.mark.usefixtures("key_per_data_dir")
def test_secret_is_created_once_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    key = load_or_create_secret(settings)
    path = secret_path(settings)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(settings) == key
    other = load_or_create_secret(load_settings(data_dir=tmp_path / "other"))
    assert other != key


@pytest.mark.usefixtures("key_per_data_dir")
def test_unreadable_secret_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    secret_path(settings).parent.mkdir(parents=True)
    secret_path(settings).write_text("not hex")
    with pytest.raises(Exception, match="pseudonymisation key"):
        load_or_create_secret(settings)


def test_comment_ids_get_keyed_pseudonyms() -> None:
    first, other = Pseudonymizer(b"k" * 32), Pseudonymizer(b"o" * 32)
    pseudonym = first.comment_id("cnas8zv")
    assert pseudonym == first.comment_id("cnas8zv") != other.comment_id("cnas8zv")
    assert "cnas8zv" not in pseudonym and len(pseudonym) == 24
    assert pseudonym != first.author("cnas8zv")  # ids and usernames live in separate namespaces


@pytest.mark.usefixtures("key_per_data_dir")
def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    load_or_create_secret(settings)
    path = secret_path(settings)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    with pytest.raises(AcademyError, match=r"can be read by others \(mode 0644\)") as info:
        load_or_create_secret(settings)
    assert info.value.hint is not None and "chmod 600" in info.value.hint


def test_a_key_file_outside_the_data_directory_is_shared_and_never_created(tmp_path: Path) -> None:
    key_file = tmp_path / "study.key"
    first = load_settings(data_dir=tmp_path / "one", pseudonym_key_file=key_file)
    with pytest.raises(AcademyError, match=r"study\.key \(setting pseudonym_key_file\) does not exist"):
        load_or_create_secret(first)
    assert not key_file.exists() and not (tmp_path / "one").exists()
    key_file.write_text("ab" * 32 + "\n")
    key_file.chmod(0o600)
    second = load_settings(data_dir=tmp_path / "two", pseudonym_key_file=key_file)
    assert load_or_create_secret(first) == load_or_create_secret(second) == bytes.fromhex("ab" * 32)
    assert secret_path(second) == key_file and not (tmp_path / "two").exists()
    key_file.chmod(0o644)
    with pytest.raises(AcademyError, match="can be read by others"):
        load_or_create_secret(first)
