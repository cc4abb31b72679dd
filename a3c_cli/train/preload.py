"""What the trainer's fork server imports once, before it forks workers and the evaluator.

Their children then share these pages instead of each importing torch (about 130 MB of private
memory a process). gc.freeze() moves every object imported so far out of the collector's sight:
a collection in a child would otherwise write to each object's header and so copy nearly every
shared page of the Python heap into the child."""

import gc

#                                 800 modules, sympy among them: 90 MB of private memory in each worker)
import ale_py  # noqa: F401  (the emulators' packages, which games/make.py imports only when a game
import stable_retro  # noqa: F401  needs them: after the fork, 7 MB of private memory in each worker)
import torch._dynamo  # noqa: F401  (imported by the first torch optimizer a process makes or unpickles:

import a3c_cli.agent.worker  # noqa: F401  (the worker, with torch, the model and the environments)
import a3c_cli.train.evaluator  # noqa: F401

gc.freeze()
