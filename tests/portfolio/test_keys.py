import json
import os
import stat

import pytest

from jedi_academy.cli import main
from jedi_academy.errors import AcademyError
from jedi_academy.portfolio.keys import (
    instance_key,
    key_path,
    parse_public_key,
    public_key_text,
    sign,
    signature_valid,
)


def test_one_private_key_per_data_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = instance_key(tmp_path / "a")
    path = key_path(tmp_path / "a")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert public_key_text(instance_key(tmp_path / "a")) == public_key_text(first)
    assert public_key_text(instance_key(tmp_path / "b")) != public_key_text(first)
    public = parse_public_key(public_key_text(first))
    signature = sign(first, b"hello")
    assert signature_valid(public, b"hello", signature)
    assert not signature_valid(public, b"hellp", signature)


def test_a_key_others_can_read_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    instance_key(tmp_path)
    os.chmod(key_path(tmp_path), 0o644)
    with pytest.raises(AcademyError, match="readable by others"):
        instance_key(tmp_path)


def test_bad_public_keys_are_one_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AcademyError, match="not an Ed25519 public key"):
        parse_public_key("ed25519:not-base64!")
    key_file = tmp_path / "signer.pub"
    key_file.write_text(public_key_text(instance_key(tmp_path / "x")) + "\n")
    assert public_key_text(parse_public_key(str(key_file))) == key_file.read_text().strip()


def test_keys_show(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--data-dir", str(tmp_path), "keys", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["public_key"] == public_key_text(instance_key(tmp_path))
    assert main(["--data-dir", str(tmp_path), "keys", "show"]) == 0
    assert capsys.readouterr().out.startswith(shown["public_key"])


def test_keys_trust_keeps_a_private_trust_store(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.portfolio.trust import trust_path, trusted_keys

    academy = public_key_text(instance_key(tmp_path / "academy"))
    client = ["--data-dir", str(tmp_path / "client")]
    assert main([*client, "keys", "trust", academy, "--name", "Jedi Academy", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["public_key"] == academy and shown["name"] == "Jedi Academy"
    assert trusted_keys(tmp_path / "client") == {academy: "Jedi Academy"}
    assert stat.S_IMODE(trust_path(tmp_path / "client").stat().st_mode) == 0o600
    assert main([*client, "keys", "trust", "ed25519:nonsense", "--name", "x"]) == 1
    assert "is not an Ed25519 public key" in capsys.readouterr().err
    assert trusted_keys(tmp_path / "client") == {academy: "Jedi Academy"}  # a refused key changes nothing
