# Makes `bot` importable in tests run from the project root without installing it.
