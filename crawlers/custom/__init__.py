"""Custom sites: crawlers defined in the config (``custom_sites``), no code (docs/custom-sites.md).

``definition`` (the config section, compiled once), ``jsonpath`` (the path syntax), ``dates``
(reading board dates) and ``crawler`` (the pure parsers and the crawler ``build_crawler`` makes).
"""
