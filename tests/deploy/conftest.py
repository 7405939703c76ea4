from __future__ import annotations

from typing import Any

import pytest

from .checks import MANIFEST, TEMPLATE, load_template


@pytest.fixture(scope="session")
def template_text() -> str:
    return TEMPLATE.read_text()


@pytest.fixture(scope="session")
def template(template_text: str) -> dict[str, Any]:
    return load_template(template_text)


@pytest.fixture(scope="session")
def manifest_text() -> str:
    return MANIFEST.read_text()
