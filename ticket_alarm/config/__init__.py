"""ticket_alarm.config.settings."""
