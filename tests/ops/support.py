"""Helpers shared by the tests of this folder."""

from __future__ import annotations

import shutil

import pytest

from fashionistar_dev.stack.binaries import apt_install


def debian_program(program: str, package: str) -> str:
    """Find a program, installing its Debian package when it is missing and we are root."""
    found = shutil.which(program)
    if found is None and apt_install([package]):
        found = shutil.which(program)
    if found is None:
        pytest.fail(f"{program} is needed: install the Debian package {package}")
    return found
