"""The commands that use the layers below without being one: `a3c test` (play.py), `a3c games`
and `a3c roms` (catalog.py), `a3c report` and the sweep summary callback (sweep.py). cli.py
dispatches to them and to the commands that live with their layer: `a3c train` (train/),
`a3c plot` (records/plot.py), `a3c bench` (bench/)."""
