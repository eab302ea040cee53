"""scripts/load's checked hub clients (its Run class, checks and percentile) for the
programs that drive the hub while they do something else: scripts/demo.py,
scripts/bench/update and tests/integration/test_updates.py. scripts/load is a command
without the .py suffix, so it is imported by path."""
import importlib.machinery
import importlib.util
import os

_LOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "load")


def load_module():
    loader = importlib.machinery.SourceFileLoader("hubload_clients", _LOAD)
    spec = importlib.util.spec_from_loader("hubload_clients", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
