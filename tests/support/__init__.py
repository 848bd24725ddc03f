"""Helpers shared by the tests: the shared-model catalogue, generated models, firmware builders."""
