# The fixtures live in tests/fixtures_kraken.py (a plugin of the root conftest) so every test package can
# use them; these names are re-exported for the modules that import them from here.
from tests.fixtures_kraken import API_KEY, MakeClient

__all__ = ["API_KEY", "MakeClient"]
