"""crawlers.interpark.site."""
