"""Moved to `publishkit.demo` (the demo drives the stages: a command, not a sandbox part).

Only `cli/render.py` still imports `DemoResult` from here (for its type only); once it imports
it from `publishkit.demo`, delete this file and its exemption in tests/test_layout.py.
"""

from publishkit.demo import DemoResult as DemoResult
