"""The wheel installs and its native module loads."""

import fincaskv


def test_version_matches_native_module() -> None:
    from fincaskv import _native

    assert fincaskv.__version__ == _native.__version__
    assert fincaskv.__version__.count(".") == 2
