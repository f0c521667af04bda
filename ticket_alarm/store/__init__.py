"""The store: protocols and typed rows in ``api``; backends ``memory`` and ``sqlite``."""

from ticket_alarm.store.api import *  # noqa: F403
from ticket_alarm.store.sqlite.engine import (  # noqa: F401
    DB_NAME,
    LOCK_NAME,
    SCHEMA_VERSION,
    STATUS_NAME,
    InstanceLock,
    StatusFile,
    Store,
)
