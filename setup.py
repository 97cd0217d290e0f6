"""Package list for setuptools (everything else is in pyproject.toml).

pyproject's ``packages.find`` cannot name a package that lives outside the package folder: the
top-level ``resources/`` (icons, sample configuration) is installed as ``konnect_desktop.resources``
through ``package-dir`` in pyproject.toml, and listed here.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["konnect_desktop*"]), "konnect_desktop.resources"])
