"""Root conftest: the stack, Django and the docs pages are set up by the project's plugin."""

pytest_plugins = ["fashionistar_dev.testing.pytest_plugin"]
