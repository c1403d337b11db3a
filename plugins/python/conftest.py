"""Makes the shared modules of plugins/python (shared_cases) importable from
each plugin's tests: pytest puts this directory on sys.path."""
