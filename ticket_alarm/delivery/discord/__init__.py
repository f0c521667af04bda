"""Discord: ``render`` (Alerts → embeds within every limit, the dry run's text), ``webhook`` (the
client with its rate-limit buckets, and the route's notifier), ``urls`` (parse and mask webhook URLs)."""
