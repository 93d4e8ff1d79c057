"""Running the `hudhud` CLI inside a test: one profile, captured output, no stray environment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hudhud.cli import main


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUDHUD_PROFILE", "HUDHUD_SERVER", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


class Cli:
    """Runs `hudhud …` for one profile and returns (exit code, stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], profile: Path, server: str) -> None:
        self.capsys = capsys
        self.profile = profile
        self.server = server

    async def __call__(self, *argv: str, server: str | None = None) -> tuple[int, str, str]:
        args = [*argv, "--profile", str(self.profile), "--server", server or self.server]
        self.capsys.readouterr()
        rc = await asyncio.to_thread(main, args)
        out, err = self.capsys.readouterr()
        return rc, out, err

    async def ok(self, *argv: str) -> str:
        rc, out, err = await self(*argv)
        assert rc == 0, f"hudhud {' '.join(argv)} failed: {err}{out}"
        return out
