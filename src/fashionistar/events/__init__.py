"""Domain events: an in-process bus instead of Django signals (see :mod:`.bus`)."""
