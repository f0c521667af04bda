"""ticket_alarm.core."""
