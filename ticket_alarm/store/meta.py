"""What every backend keeps as small meta values — a site's head-poll state and the heartbeat —
written once over the backend's ``get_meta``/``set_meta`` (memory, SQLite and PostgreSQL alike)."""

from __future__ import annotations

import json
from dataclasses import asdict

from ticket_alarm.store.rows import HEARTBEAT_META, HeadState


class MetaRecords:
    """``head_state``/``save_head_state``/``heartbeat``/``last_heartbeat`` of ``api.Store``."""

    async def get_meta(self, key: str) -> str | None:
        raise NotImplementedError

    async def set_meta(self, key: str, value: str) -> None:
        raise NotImplementedError

    async def head_state(self, site: str) -> HeadState:
        raw = await self.get_meta(HeadState(site).meta_key)
        if not raw:
            return HeadState(site)
        try:
            data = json.loads(raw)
            return HeadState(site, **{k: v for k, v in data.items() if k in HeadState.__dataclass_fields__})
        except (ValueError, TypeError, AttributeError):  # unreadable: start over (it describes past polls)
            return HeadState(site)

    async def save_head_state(self, state: HeadState) -> None:
        data = {k: v for k, v in asdict(state).items() if k != "site"}
        await self.set_meta(state.meta_key, json.dumps(data))

    async def heartbeat(self, now: float) -> None:
        await self.set_meta(HEARTBEAT_META, f"{now:.3f}")

    async def last_heartbeat(self) -> float | None:
        raw = await self.get_meta(HEARTBEAT_META)
        try:
            return float(raw) if raw else None
        except ValueError:
            return None
