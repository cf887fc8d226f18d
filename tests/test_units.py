"""One size rule everywhere (Kubernetes'): G/GB are powers of 1000, Gi/GiB powers of 1024."""

from __future__ import annotations

import pytest

from pais_cli.errors import UsageError
from pais_cli.units import format_exact, format_size, parse_size


@pytest.mark.parametrize(("text", "size"), [
    ("4G", 4 * 10**9), ("4GB", 4 * 10**9), ("4Gi", 4 * 2**30), ("4GiB", 4 * 2**30), ("4gib", 4 * 2**30),
    ("100MiB", 100 * 2**20), ("100M", 100 * 10**6), ("1.5TiB", 3 * 2**39), ("512", 512), (" 2 Ki ", 2048), ("1k", 1000),
])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "5 parsecs", "-5GiB", "1e9", "4 G B"])
def test_parse_size_refuses_with_the_option_named(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_size(text, "--smoke-memory")
    assert "--smoke-memory" in caught.value.message and caught.value.hint and "GiB" in caught.value.hint


def test_the_cli_reads_sizes_by_the_same_rule() -> None:
    """--smoke-memory once took 4G as 4 GiB and --quota as 4x10^9: both now go through units."""
    from pais_cli.cli.report import SmokeFlags

    assert SmokeFlags(memory="4G").options().limits.memory_bytes == 4 * 10**9
    assert SmokeFlags(memory="4GiB").options().limits.memory_bytes == 4 * 2**30


def test_sizes_print_in_iec_units() -> None:
    assert format_size(512) == "512 B"
    assert format_size(3 * 2**29) == "1.5 GiB"
    assert format_exact(500 * 2**30) == "500GiB" and format_exact(1536) == "1536B"
