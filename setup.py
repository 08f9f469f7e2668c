"""Build hook: setuptools metadata lives in pyproject.toml; this file only adds the optional C extension."""
from setuptools import setup

setup()
