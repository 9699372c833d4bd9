"""The academy instance's Ed25519 signing key: one per data directory, private (0600 in a 0700 folder).

The private key is written once, atomically (a temporary file hard-linked into place, so two processes
starting together end up with the same key), and refused on load if anyone but the owner can read it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jedi_academy.errors import AcademyError
from jedi_academy.results import Result

KEY_FILE = "instance-ed25519.pem"
PUBLIC_PREFIX = "ed25519:"


@dataclass(frozen=True)
class InstanceKey(Result):
    """The instance's public key as ``academy keys show --json`` prints it."""

    public_key: str
    fingerprint: str
    private_key_file: str


@dataclass(frozen=True)
class VerifierWritten(Result):
    """The verifier page ``academy portfolio verifier`` wrote (``--json``)."""

    out: str
    fingerprint: str
    instance: str


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / "keys" / KEY_FILE


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made the key first: use theirs
            os.link(tmp_name, path)
    finally:
        os.unlink(tmp_name)


def instance_key(data_dir: Path, *, create: bool = True) -> Ed25519PrivateKey:
    """The instance's private key, created on first use."""
    path = key_path(data_dir)
    if not path.exists():
        if not create:
            raise AcademyError(
                f"this instance has no key yet ({path})", "run `academy keys show` to create it"
            )
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise AcademyError(
            f"the instance key {path} is readable by others (mode {mode:o})", f"run: chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise AcademyError(f"the instance key {path} is not a readable PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AcademyError(f"the instance key {path} is not an Ed25519 key")
    return key


def show_key(data_dir: Path) -> InstanceKey:
    """The instance's public key (the private key is created on first use)."""
    public = public_key_text(instance_key(data_dir))
    return InstanceKey(public, fingerprint(public), str(key_path(data_dir)))


def write_verifier(data_dir: Path, out: Path, name: str, url: str) -> VerifierWritten:
    """Write the self-contained verifier page with this instance's key, name and address built in
    (atomically, 0644: a page to publish)."""
    from jedi_academy.portfolio.render import render_verifier

    public = public_key_text(instance_key(data_dir))
    page = render_verifier(public, name, url)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".verifier-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return VerifierWritten(str(out), fingerprint(public), name)


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """``ed25519:<base64 of the 32 raw bytes>``: what `academy keys show` prints and portfolios embed."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public_key(value: str) -> Ed25519PublicKey:
    """Accept ``ed25519:BASE64``, bare base64, or a path to a file holding either (or a PEM public key)."""
    text = value.strip()
    candidate = Path(text)
    if len(text) < 1024 and candidate.is_file():
        data = candidate.read_bytes()
        if data.lstrip().startswith(b"-----BEGIN PUBLIC KEY"):
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise AcademyError(f"{candidate} does not hold an Ed25519 public key")
            return key
        text = data.decode("utf-8", "replace").strip()
    text = text.removeprefix(PUBLIC_PREFIX)
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise AcademyError(
            f"{value[:60]!r} is not an Ed25519 public key",
            "give ed25519:BASE64 as printed by `academy keys show`",
        ) from exc


def fingerprint(public_text: str) -> str:
    """Short, stable name of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    raw = base64.b64decode(public_text.removeprefix(PUBLIC_PREFIX))
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode("ascii")


def signature_valid(public: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
