"""Helpers shared by several test modules (tiny nets, sweep configs, synthetic runs and tables, the report's
fixture data), imported as ``from tests.support.nets import Tiny``.

Not test modules: pytest collects nothing here (no ``test_*.py``), and a test module never imports another test
module. Shared expensive objects are fixtures in ``tests/conftest.py`` instead (e.g. ``rendered_report``).
"""
