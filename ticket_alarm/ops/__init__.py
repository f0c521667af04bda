"""ticket_alarm.daemon.watch."""
