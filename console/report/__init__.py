"""A roll's report: ``model`` (the frozen data), ``build`` (read from the journal), ``markdown`` and ``toml``
(render it), ``timeline`` (the text timeline, also drawn live by the console)."""
