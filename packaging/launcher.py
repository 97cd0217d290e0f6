"""The bundle's entry point (PyInstaller runs a script, not ``python -m``)."""

from konnect_desktop.cli import main

raise SystemExit(main())
