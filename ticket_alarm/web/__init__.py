"""ticket_alarm.web.server."""
