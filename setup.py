"""Package list for setuptools (everything else is in pyproject.toml).

pyproject's ``packages.find`` cannot name a package that lives outside the package folder: the
top-level ``resources/`` (icons, sample configuration) is installed as ``konnect_desktop.resources``
through ``package-dir`` in pyproject.toml, and listed here.
"""

from setuptools import find_namespace_packages, find_packages, setup

# its sub-folders too: setuptools warns about data folders that are not listed as packages
RESOURCES = ["konnect_desktop.resources",
             *(f"konnect_desktop.resources.{p}" for p in find_namespace_packages(where="resources"))]

setup(packages=[*find_packages(include=["konnect_desktop*"]), *RESOURCES])
