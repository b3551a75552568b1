from __future__ import annotations

import unicodedata

import pytest

from geozone.text import fold, nfc, nfc_all, search_keys, split_unit_type


def test_nfc_composes_and_collapses_spaces() -> None:
    decomposed = unicodedata.normalize("NFD", "Nghĩa  Đô ")
    assert nfc(decomposed) == "Nghĩa Đô"
    assert nfc(decomposed) == unicodedata.normalize("NFC", "Nghĩa Đô")


def test_nfc_all_is_nfc_of_each() -> None:
    decomposed = unicodedata.normalize("NFD", "Phường Nghĩa Đô")
    texts = [
        "SYN-0-10548",  # kept as it is
        "",
        " a  b ",
        "a\tb",
        "x\x1cy",  # a separator str.split() splits at
        "tab\x0b",
        decomposed,
        "Đô",
        "~!}",
        "Quan Hoa",  # one space: kept
        "a\u00a0b",  # a no-break space
    ]
    assert nfc_all(texts) == [nfc(t) for t in texts]
    assert nfc_all(texts)[6] == "Phường Nghĩa Đô" != decomposed
    assert nfc_all([]) == []


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Phường Nghĩa Đô", "phuongnghiado"),
        ("QuanHoa", "quanhoa"),
        ("quan  hoa", "quanhoa"),
        ("Đồng Tháp", "dongthap"),
        ("Thị xã Sông Cầu", "thixasongcau"),
        ("Phường 1", "phuong1"),
    ],
)
def test_fold(text: str, key: str) -> None:
    assert fold(text) == key


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("Phường Nghĩa Đô", ("Phường", "Nghĩa Đô")),
        ("Thị xã Sông Cầu", ("Thị xã", "Sông Cầu")),
        ("Xã Thị Trấn", ("Xã", "Thị Trấn")),
        ("Thành phố Hà Nội", ("Thành phố", "Hà Nội")),
        ("Đặc khu Phú Quốc", ("Đặc khu", "Phú Quốc")),
        ("Côn Đảo", (None, "Côn Đảo")),
    ],
)
def test_split_unit_type(full: str, expected: tuple[str | None, str]) -> None:
    assert split_unit_type(full) == expected


def test_search_keys_cover_bare_full_and_abbreviated_names() -> None:
    keys = search_keys("Việt Trì", "Thành phố")
    assert {"viettri", "thanhphoviettri", "tpviettri"} <= set(keys)
    assert search_keys("Quan Hoa", None) == ["quanhoa"]
