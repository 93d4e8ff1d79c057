"""What one user may see of another: one rule, applied by every endpoint that shows a profile.

- **Phone number.** Shown to the user themselves; to someone who already has it in their address book (it tells
  them nothing new); to someone the owner has written to in a direct chat (writing is the owner's choice to show
  it, as in WhatsApp); and beyond that per the owner's `phone` privacy setting: `everyone`, `contacts` (the
  default: people in the owner's address book) or `nobody`. Never because a stranger wrote to the owner first,
  and never because two people share a group.
- **Blocking.** Someone who has blocked the viewer shows them an empty display name and about, no picture (so
  changes after the block are not seen either) and no phone number beyond the one the viewer has saved. Every
  endpoint answers the same, so comparing them tells the viewer nothing. The picture's media is readable by
  exactly those who are shown it (store/media.readable).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from hudhud.store import accounts as aq
from hudhud.store import groups as gq
from hudhud.store import relations as rq
from hudhud.store.records import User

PHONE_LEVELS = ("everyone", "contacts", "nobody")


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    phone: str | None  # None: not for this viewer
    display_name: str
    about: str
    picture: str | None = None  # media id; readable by the viewer (store/media.readable) exactly when shown


def profiles_for(conn: Connection, viewer: User, people: Iterable[User]) -> dict[str, Profile]:
    """How each of `people` appears to `viewer`, in a handful of queries whatever their number."""
    everyone = {u.id: u for u in people}
    others = [u for uid, u in everyone.items() if uid != viewer.id]
    ids = [u.id for u in others]
    blockers = gq.who_blocked(conn, ids, viewer.id)
    saved = aq.contact_phones(conn, viewer.id, [u.phone for u in others])
    rest = [u for u in others if u.phone not in saved and u.id not in blockers]
    have_viewer = rq.owners_with_number(conn, [u.id for u in rest if u.phone_privacy == "contacts"], viewer.phone)
    wrote = rq.wrote_to(conn, [u.id for u in rest if u.phone_privacy != "everyone"], viewer.id)
    out: dict[str, Profile] = {}
    for uid, u in everyone.items():
        blocked = uid in blockers
        chosen = u.phone_privacy == "everyone" or uid in wrote or (u.phone_privacy == "contacts" and uid in have_viewer)
        shown = uid == viewer.id or u.phone in saved or (not blocked and chosen)
        out[uid] = Profile(
            uid,
            u.phone if shown and u.phone else None,  # a deleted account has no number
            "" if blocked else u.display_name,
            "" if blocked else u.about,
            None if blocked else u.picture,
        )
    return out


def blockers_among(conn: Connection, viewer_id: str, user_ids: Iterable[str]) -> set[str]:
    """Who among `user_ids` has blocked `viewer_id` (and so shows them no name)."""
    return gq.who_blocked(conn, [u for u in set(user_ids) if u != viewer_id], viewer_id)
