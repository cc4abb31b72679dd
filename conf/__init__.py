"""The Hydra config tree. Installed as the package ``a3c_cli.conf`` (see pyproject.toml)."""
