"""ticket_alarm.fetch."""
