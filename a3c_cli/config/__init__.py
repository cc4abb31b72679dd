"""The config: the schemas (every key's type, default and description, once; their instances,
read-only, are the config every part of a run reads), composing a command's config as Hydra will,
the checks of its values, and the generated docs page (`python -m a3c_cli.config.doc --write`).
The presets themselves are in conf/."""
