"""Site crawlers: one module per site on ``crawlers.base.Crawler``, found by ``crawlers.registry``."""
