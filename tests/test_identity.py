"""The band's identity file (firmware/app/identity.py) under bit rot: three flipped bits
anywhere do not change who the band is (the host would refuse it as a wiped band)."""
from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "firmware"))

from app import identity  # noqa: E402

MADE = bytes(range(16))


def _made(path):
    ident, made = identity.load(str(path), random_bytes=lambda n: MADE[:n])
    assert (ident, made) == (MADE, True)
    return path.read_bytes()


def test_it_is_made_once_and_then_kept(tmp_path):
    p = tmp_path / "identity"
    _made(p)
    assert identity.load(str(p), random_bytes=lambda n: b"\xff" * n) == (MADE, False)


def test_three_flipped_bits_anywhere_keep_it_and_the_file_is_mended(tmp_path):
    p = tmp_path / "identity"
    whole = _made(p)
    rng = random.Random(11)
    for _ in range(400):
        data = bytearray(whole)
        for bit in rng.sample(range(len(data) * 8), rng.randint(1, 3)):
            data[bit // 8] ^= 1 << (bit % 8)
        p.write_bytes(bytes(data))
        assert identity.load(str(p), random_bytes=lambda n: b"\xff" * n) == (MADE, False)
        assert p.read_bytes() == whole  # mended at once: flips never add up


def test_a_file_of_two_copies_still_loads_and_gets_four(tmp_path):
    p = tmp_path / "identity"
    whole = _made(p)
    p.write_bytes(whole[:40])  # as protocol 1.2's firmware wrote it
    assert identity.load(str(p)) == (MADE, False)
    assert p.read_bytes() == whole


def test_every_copy_spoilt_makes_a_new_identity(tmp_path):
    p = tmp_path / "identity"
    whole = bytearray(_made(p))
    for off in range(0, len(whole), 20):
        whole[off] ^= 1
    p.write_bytes(bytes(whole))
    assert identity.load(str(p), random_bytes=lambda n: b"\x07" * n) == (b"\x07" * 16, True)
