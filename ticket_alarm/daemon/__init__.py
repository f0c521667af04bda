"""ticket_alarm.daemon.scheduler."""
