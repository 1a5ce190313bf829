"""Development tooling that does not ship: the service stack, test plugins, fakes, demo data."""
