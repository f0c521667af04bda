"""ticket_alarm.delivery.outbox."""
