"""The documents that clients and operators rely on say what the code does."""

import re
from pathlib import Path

from hudhud.errors import ERROR_CODES
from hudhud.protocol import frames

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")


def test_error_table_matches_the_code():
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", PROTOCOL, flags=re.M)
    assert {code: int(status) for code, status in rows} == ERROR_CODES
    assert len(rows) == len(ERROR_CODES), "a code is listed twice"


def test_every_client_frame_is_documented():
    kinds = set(re.findall(r'kind == "([a-z_]+)"', Path(frames.__file__).read_text()))
    assert kinds == {"send", "forward", "broadcast", "ack", "read", "typing", "presence_subscribe", "ping", "hello"}
    for kind in kinds:
        assert f"#### `{kind}`" in PROTOCOL, kind


def test_every_server_frame_is_documented():
    from hudhud.protocol import server_frames

    kinds = set(re.findall(r'"type": "([a-z_]+)"', Path(server_frames.__file__).read_text()))
    assert kinds >= {"welcome", "deliver", "sent", "synced", "receipt", "typing", "presence", "error", "pong"}
    for kind in kinds:
        assert f"#### `{kind}`" in PROTOCOL, kind


def test_every_rest_route_is_documented():
    from hudhud.web.chatstate_rest import router as chatstate
    from hudhud.web.groups_rest import router as groups
    from hudhud.web.link_rest import router as link
    from hudhud.web.media_rest import router as media
    from hudhud.web.rest import router

    for route in [*router.routes, *groups.routes, *media.routes, *link.routes, *chatstate.routes]:
        for method in route.methods:  # type: ignore[attr-defined]
            assert f"`{method} {route.path}`" in PROTOCOL, f"{method} {route.path}"  # type: ignore[attr-defined]


def test_readme_has_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme


def test_readme_client_options_work_before_the_command(tmp_path):
    """The README writes `hudhud --profile amal login …`: the options must be taken there as well as after."""
    from hudhud.cli import build_parser, main

    parser = build_parser()
    assert parser.parse_args(["--profile", "a", "chats"]).global_profile == "a"
    assert parser.parse_args(["chats", "--profile", "b"]).profile == "b"
    # `chats` with a fresh profile says "not logged in", having opened the profile it was given, there.
    profile = tmp_path / "p"
    assert main(["--profile", str(profile), "chats"]) == 1
    assert profile.is_dir()
