"""What a game server owes the lobby while it cannot take it: offline admissions and leaves, in order."""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from client_sdk.verify import MAX_USED_JTIS

if TYPE_CHECKING:
    from client_sdk.server import Admission

log = logging.getLogger("client_sdk")


class Report(NamedTuple):
    """One thing the lobby missed: an offline admission (its token to redeem), or a leave."""

    player_id: str
    token: str | None = None
    admission: Admission | None = None

    def what(self) -> str:
        """For a log line (never the token)."""
        if self.admission is not None:
            return f"an offline admission (jti {self.admission.jti})"
        return f"the leave of {self.player_id}"


class Outbox:
    """Reports in the order they happened, at most `MAX_USED_JTIS` (the oldest dropped past it)."""

    def __init__(self) -> None:
        self._reports: collections.deque[Report] = collections.deque()

    def __bool__(self) -> bool:
        return bool(self._reports)

    def __iter__(self) -> Iterator[Report]:
        return iter(list(self._reports))

    def add(self, report: Report) -> None:
        """Queue a report, dropping the oldest (with a warning) past the cap."""
        if len(self._reports) >= MAX_USED_JTIS:
            log.warning("too many reports queued for the lobby; %s will not be", self._reports[0].what())
            self._reports.popleft()
        self._reports.append(report)

    def first(self) -> Report:
        """The oldest report."""
        return self._reports[0]

    def done(self) -> None:
        """Forget the oldest report (sent, or refused for good)."""
        self._reports.popleft()
