"""Validation, once per notice: a crawl's notices with their problems (``Ticket.problems``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ticket_alarm.core.model import Ticket


@dataclass(frozen=True, slots=True)
class Checked:
    """Each notice a crawl read, with why it must not be sent (empty: valid)."""

    notices: tuple[tuple[Ticket, tuple[str, ...]], ...] = ()

    @property
    def valid(self) -> list[Ticket]:
        return [ticket for ticket, problems in self.notices if not problems]

    @property
    def invalid(self) -> list[tuple[Ticket, tuple[str, ...]]]:
        return [(ticket, problems) for ticket, problems in self.notices if problems]

    @property
    def problems(self) -> list[list[str]]:
        return [list(problems) for _, problems in self.notices]


def validate(tickets: Sequence[Ticket]) -> Checked:
    return Checked(tuple((ticket, tuple(ticket.problems())) for ticket in tickets))
